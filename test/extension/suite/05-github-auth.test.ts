// getGitHubToken (src/ui/githubAuth.ts) against VS Code's real authentication service: a test
// AuthenticationProvider registered with the id "github" serves the session, the way VS Code's
// built-in GitHub sign-in does on the desktop.
//
// How VS Code 1.100 decides (mainThreadAuthentication.ts doGetSession): a session is handed out
// silently only to an extension on the account's allow list (application storage, or the
// product's trustedExtensionAuthAccess). An extension gets on it by the consent dialog of
// getSession({ createIfNone }) (DialogService.prompt, which VS Code refuses while extension
// tests run: "refused to show dialog in tests"), or by the user running the "Sign in with
// GitHub to use <extension> (1)" item that a plain getSession() (neither silent nor
// createIfNone) adds to the Accounts menu. That item is a command (`github:<ext>:signIn<n>`),
// so this suite grants access exactly as a click on it does, without a dialog.
//
// The module under test is bundled into this suite, so its `vscode` calls carry this suite's
// extension identity (not nixfleet.nixfleet's): the grant and the silent lookup are for the
// same identity, as they are for the extension in real use.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { getGitHubToken } from '../../../src/ui/githubAuth';
import { GITHUB_TOKEN_KEY } from '../../../src/ui/secrets';

const SESSION_TOKEN = 'gho_e2eSessionToken0123456789abcdef';
const STORED_TOKEN = 'ghp_e2eStoredToken0123456789abcdef';
const ACCOUNT = { id: '4242', label: 'octo-e2e' };

/** SecretStorage in memory: the same interface the extension's context gives it. */
function memorySecrets(): vscode.SecretStorage & { values: Map<string, string> } {
  const values = new Map<string, string>();
  const changed = new vscode.EventEmitter<vscode.SecretStorageChangeEvent>();
  return {
    values,
    onDidChange: changed.event,
    get: async (k: string) => values.get(k),
    store: async (k: string, v: string) => {
      values.set(k, v);
      changed.fire({ key: k });
    },
    delete: async (k: string) => {
      values.delete(k);
      changed.fire({ key: k });
    },
  } as vscode.SecretStorage & { values: Map<string, string> };
}

class TestGitHubProvider implements vscode.AuthenticationProvider {
  readonly sessions: vscode.AuthenticationSession[] = [];
  readonly created: (readonly string[])[] = [];
  private readonly changed = new vscode.EventEmitter<vscode.AuthenticationProviderAuthenticationSessionsChangeEvent>();
  readonly onDidChangeSessions = this.changed.event;

  async getSessions(scopes?: readonly string[]): Promise<vscode.AuthenticationSession[]> {
    return this.sessions.filter((s) => !scopes || scopes.every((x) => s.scopes.includes(x)));
  }

  async createSession(scopes: readonly string[]): Promise<vscode.AuthenticationSession> {
    this.created.push(scopes);
    const s: vscode.AuthenticationSession = { id: `test-session-${this.created.length}`, accessToken: SESSION_TOKEN, account: ACCOUNT, scopes: [...scopes] };
    this.sessions.push(s);
    this.changed.fire({ added: [s], removed: [], changed: [] });
    return s;
  }

  async removeSession(id: string): Promise<void> {
    const i = this.sessions.findIndex((s) => s.id === id);
    if (i < 0) return;
    const [s] = this.sessions.splice(i, 1);
    this.changed.fire({ added: [], removed: [s!], changed: [] });
  }
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('GitHub credentials through vscode.authentication (a test "github" provider)', () => {
  const provider = new TestGitHubProvider();
  let registration: vscode.Disposable | undefined;

  before(() => {
    registration = vscode.authentication.registerAuthenticationProvider('github', 'GitHub (NixFleet test provider)', provider);
  });
  after(() => registration?.dispose());

  it('without access to a session: the stored token, and a silent lookup signs nobody in', async () => {
    const secrets = memorySecrets();
    assert.equal(await getGitHubToken(secrets, { interactive: false }), undefined, 'nothing stored, no session: no token');
    await secrets.store(GITHUB_TOKEN_KEY, STORED_TOKEN);
    assert.deepEqual(await getGitHubToken(secrets, { interactive: false }), { token: STORED_TOKEN, source: 'secret-storage' });
    assert.equal(provider.created.length, 0, 'a silent lookup must not create a session');
  });

  it('after the user signs in through the Accounts menu: the session token and its account as login, before the stored token; not for another API server', async () => {
    // A plain getSession (what an extension does to ask politely) adds the Accounts-menu item.
    assert.equal(await vscode.authentication.getSession('github', ['repo']), undefined);
    const signIn = await until('the "Sign in with GitHub to use ..." command', async () =>
      (await vscode.commands.getCommands(true)).find((c) => c.startsWith('github:') && /:signIn\d+$/.test(c)),
    );
    // The user clicks it: VS Code creates the session and puts the extension on the allow list.
    await vscode.commands.executeCommand(signIn);
    assert.deepEqual(provider.created, [['repo']], 'one session with the "repo" scope');

    const secrets = memorySecrets();
    await secrets.store(GITHUB_TOKEN_KEY, STORED_TOKEN);
    const creds = await getGitHubToken(secrets, { interactive: false });
    assert.deepEqual(creds, { token: SESSION_TOKEN, login: ACCOUNT.label, source: 'vscode-session' });
    assert.deepEqual(await getGitHubToken(secrets, { interactive: false, apiUrl: 'https://api.github.com' }), creds, 'api.github.com is github.com');
    // A GitHub Enterprise server (nixfleet.github.apiUrl) refuses github.com tokens: the stored one.
    assert.deepEqual(await getGitHubToken(secrets, { interactive: false, apiUrl: 'https://github.example.com/api/v3' }), { token: STORED_TOKEN, source: 'secret-storage' });
    assert.equal(provider.created.length, 1, 'no second session was created');
  });

  it('the session goes (signed out): back to the stored token', async () => {
    await provider.removeSession(provider.sessions[0]!.id);
    const secrets = memorySecrets();
    await secrets.store(GITHUB_TOKEN_KEY, STORED_TOKEN);
    assert.deepEqual(await getGitHubToken(secrets, { interactive: false }), { token: STORED_TOKEN, source: 'secret-storage' });
  });
});
