// GitHub credentials for src/github (Revert PR, deploy of a PR): VS Code's GitHub
// authentication session when the editor has one, else a token kept in SecretStorage.
import * as vscode from 'vscode';
import { GITHUB_TOKEN_KEY, TOKEN_RE } from './secrets';

export interface GitHubCredentials {
  token: string;
  /** GitHub login when known (from the session), for the audit log. */
  login?: string;
  source: 'vscode-session' | 'secret-storage';
}

/**
 * The GitHub token to use, or undefined when there is none and `interactive` is false.
 * Interactive: signs in through VS Code when a GitHub provider exists, else asks for a token
 * (stored in SecretStorage for next time).
 */
export async function getGitHubToken(
  secrets: vscode.SecretStorage,
  opts: { interactive: boolean } = { interactive: false },
): Promise<GitHubCredentials | undefined> {
  try {
    const session = await vscode.authentication.getSession('github', ['repo'], opts.interactive ? { createIfNone: true } : { silent: true });
    if (session) return { token: session.accessToken, login: session.account.label, source: 'vscode-session' };
  } catch {
    // No GitHub authentication provider here (e.g. code-server), or the user declined: fall back.
  }
  const stored = await secrets.get(GITHUB_TOKEN_KEY);
  if (stored) return { token: stored, source: 'secret-storage' };
  if (!opts.interactive) return undefined;
  const entered = await promptGitHubToken();
  if (!entered) return undefined;
  await secrets.store(GITHUB_TOKEN_KEY, entered);
  return { token: entered, source: 'secret-storage' };
}

export async function promptGitHubToken(): Promise<string | undefined> {
  return vscode.window.showInputBox({
    title: 'NixFleet: GitHub token',
    prompt: 'A GitHub token with "repo" scope (contents and pull requests: read and write). Stored in VS Code SecretStorage.',
    password: true,
    ignoreFocusOut: true,
    validateInput: (v) => (TOKEN_RE.test(v.trim()) ? undefined : 'paste the whole token (no spaces)'),
  }).then((v) => v?.trim() || undefined);
}

export async function setGitHubToken(secrets: vscode.SecretStorage, token: string): Promise<void> {
  if (token === '') return secrets.delete(GITHUB_TOKEN_KEY);
  if (!TOKEN_RE.test(token)) throw new Error('a GitHub token is 16-4096 printable characters without spaces');
  await secrets.store(GITHUB_TOKEN_KEY, token);
}
