// Tokens live in VS Code's SecretStorage (the OS keychain where there is one), never in
// settings or logs.
import type * as vscode from 'vscode';
import { HOST_NAME_RE } from '../../protocol';

const agentKey = (host: string) => `nixfleet.agentToken.${host}`;
export const GITHUB_TOKEN_KEY = 'nixfleet.githubToken';
/** The operator's NATS credentials for nixfleet.broker (the text of an nkey seed or .creds file). */
export const BROKER_CREDENTIALS_KEY = 'nixfleet.brokerCredentials';

/** Bearer tokens are sent in an HTTP header: printable ASCII without spaces only. */
export const TOKEN_RE = /^[\x21-\x7e]{16,4096}$/;

export class TokenStore {
  constructor(private readonly secrets: vscode.SecretStorage) {}

  async getAgentToken(host: string): Promise<string | undefined> {
    return (await this.secrets.get(agentKey(host))) || undefined;
  }

  async setAgentToken(host: string, token: string): Promise<void> {
    if (!HOST_NAME_RE.test(host)) throw new Error(`"${host}" is not a host name`);
    if (!TOKEN_RE.test(token)) {
      throw new Error(`the token for ${host} must be 16-4096 printable characters without spaces (as written in the agent's token file)`);
    }
    await this.secrets.store(agentKey(host), token);
  }

  async deleteAgentToken(host: string): Promise<void> {
    await this.secrets.delete(agentKey(host));
  }

  async getBrokerCredentials(): Promise<string | undefined> {
    return (await this.secrets.get(BROKER_CREDENTIALS_KEY)) || undefined;
  }

  /** `text` checked by the caller (src/broker/credentials.ts); empty removes them. */
  async setBrokerCredentials(text: string): Promise<void> {
    if (text === '') await this.secrets.delete(BROKER_CREDENTIALS_KEY);
    else await this.secrets.store(BROKER_CREDENTIALS_KEY, text);
  }

  onDidChangeBrokerCredentials(listener: () => void): vscode.Disposable {
    return this.secrets.onDidChange((e) => {
      if (e.key === BROKER_CREDENTIALS_KEY) listener();
    });
  }

  onDidChange(listener: (host: string | 'github') => void): vscode.Disposable {
    return this.secrets.onDidChange((e) => {
      if (e.key === GITHUB_TOKEN_KEY) listener('github');
      else if (e.key.startsWith('nixfleet.agentToken.')) listener(e.key.slice('nixfleet.agentToken.'.length));
    });
  }
}
