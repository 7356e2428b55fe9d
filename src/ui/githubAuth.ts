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
 *
 * Order: a VS Code GitHub session the extension may already use (silently), then the token
 * the user stored with "Set GitHub Token", and only then, when interactive, signing in
 * through VS Code (its "wants to sign in" consent) or, where that is declined or there is no
 * GitHub provider, asking for a token (stored in SecretStorage for next time). A stored token
 * must not be passed over for a sign-in prompt: the user stored it to be used.
 *
 * `apiUrl`: the REST API root in use (nixfleet.github.apiUrl). VS Code's "github" provider
 * signs in to github.com, whose tokens a GitHub Enterprise server refuses, so for any other
 * server only the stored (or entered) token counts.
 */
export async function getGitHubToken(
  secrets: vscode.SecretStorage,
  opts: { interactive: boolean; apiUrl?: string } = { interactive: false },
): Promise<GitHubCredentials | undefined> {
  const useSession = isGitHubDotCom(opts.apiUrl);
  if (useSession) {
    const session = await vsCodeSession({ silent: true });
    if (session) return session;
  }
  const stored = await secrets.get(GITHUB_TOKEN_KEY);
  if (stored) return { token: stored, source: 'secret-storage' };
  if (!opts.interactive) return undefined;
  if (useSession) {
    const session = await vsCodeSession({ createIfNone: true });
    if (session) return session;
  }
  const entered = await promptGitHubToken();
  if (!entered) return undefined;
  await secrets.store(GITHUB_TOKEN_KEY, entered);
  return { token: entered, source: 'secret-storage' };
}

/** True for github.com's API (no setting, or api.github.com). */
export function isGitHubDotCom(apiUrl: string | undefined): boolean {
  if (!apiUrl) return true;
  try {
    return new URL(apiUrl).hostname.toLowerCase() === 'api.github.com';
  } catch {
    return false;
  }
}

async function vsCodeSession(options: vscode.AuthenticationGetSessionOptions): Promise<GitHubCredentials | undefined> {
  try {
    const session = await vscode.authentication.getSession('github', ['repo'], options);
    if (session) return { token: session.accessToken, login: session.account.label, source: 'vscode-session' };
  } catch {
    // No GitHub authentication provider here, or the user declined to sign in: fall back.
  }
  return undefined;
}

/**
 * Ask for a GitHub token. `allowEmpty` (the Set GitHub Token command): an empty answer
 * means "remove the stored token" and comes back as ''; undefined is always a cancel.
 */
export async function promptGitHubToken(opts: { allowEmpty?: boolean } = {}): Promise<string | undefined> {
  const v = await vscode.window.showInputBox({
    title: 'NixFleet: GitHub token',
    prompt:
      'A GitHub token with "repo" scope (contents and pull requests: read and write). Stored in VS Code SecretStorage.' +
      (opts.allowEmpty ? ' Leave empty to remove the stored token.' : ''),
    password: true,
    ignoreFocusOut: true,
    validateInput: (v) => (TOKEN_RE.test(v.trim()) || (opts.allowEmpty && v.trim() === '') ? undefined : 'paste the whole token (no spaces)'),
  });
  if (v === undefined) return undefined;
  return v.trim() || (opts.allowEmpty ? '' : undefined);
}

export async function setGitHubToken(secrets: vscode.SecretStorage, token: string): Promise<void> {
  if (token === '') return secrets.delete(GITHUB_TOKEN_KEY);
  if (!TOKEN_RE.test(token)) throw new Error('a GitHub token is 16-4096 printable characters without spaces');
  await secrets.store(GITHUB_TOKEN_KEY, token);
}
