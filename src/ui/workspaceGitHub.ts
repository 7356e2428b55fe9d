// GitHub access for the workspace repository (Revert PR, deploys of a PR, the audit log's
// "who"): the repo from origin, the user's token from VS Code (githubAuth.ts).
import type * as vscode from 'vscode';
import { localUser } from '../deploy/audit';
import type { GitHubAccess, WorkspaceGitHub } from '../flows/context';
import { createGitHubClient, gitHubLogin, parseGitHubRemote, type GitHubRepo } from '../github/client';
import { remoteUrl } from '../gitops/repo';
import type { Settings } from '../settings';
import { getGitHubToken } from './githubAuth';

export class VsCodeWorkspaceGitHub implements WorkspaceGitHub {
  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly settings: Settings,
    private readonly workspaceDir: () => string | undefined,
  ) {}

  /** The workspace repository on GitHub, or undefined when origin is a plain git remote. */
  async repo(): Promise<GitHubRepo | undefined> {
    const dir = this.workspaceDir();
    if (!dir) return undefined;
    const url = await remoteUrl(dir);
    if (!url) return undefined;
    const api = this.settings.githubApiUrl;
    const host = api ? new URL(api).hostname.replace(/^api\./, '') : 'github.com';
    return parseGitHubRemote(url, host) ?? (host !== 'github.com' ? parseGitHubRemote(url) : undefined);
  }

  async access(interactive: boolean, opts: { timeoutMs?: number } = {}): Promise<GitHubAccess | undefined> {
    const repo = await this.repo();
    if (!repo) return undefined;
    const apiUrl = this.settings.githubApiUrl;
    const creds = await getGitHubToken(this.secrets, { interactive, apiUrl });
    if (!creds) {
      throw new Error(`${repo.owner}/${repo.repo} is on GitHub but there is no GitHub token: sign in to GitHub or run "NixFleet: Set GitHub Token"`);
    }
    const octokit = createGitHubClient({ token: creds.token, baseUrl: apiUrl, timeoutMs: opts.timeoutMs });
    const login = creds.login ?? (await gitHubLogin(octokit));
    return { octokit, repo, login };
  }

  async whoAmI(): Promise<string> {
    try {
      // Short timeout: an unreachable GitHub must not hold up a deploy for the audit log's sake.
      const gh = await this.access(false, { timeoutMs: 5_000 });
      if (gh) return gh.login;
    } catch {
      // No token or GitHub unreachable: the local user still identifies the action.
    }
    return localUser();
  }
}
