// The one place an Octokit client is made, and the repository it talks about.
import { Octokit } from '@octokit/rest';
import { explain } from './errors';

export interface GitHubRepo {
  owner: string;
  repo: string;
}

export interface GitHubClientOptions {
  token: string;
  /** https://api.github.com, or a GitHub Enterprise / test server API root. */
  baseUrl?: string;
  /** Milliseconds before a request counts as a network failure. */
  timeoutMs?: number;
}

const OWNER_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const REPO_RE = /^[A-Za-z0-9._-]{1,100}$/;

export function checkRepo(r: GitHubRepo): GitHubRepo {
  if (!OWNER_RE.test(r.owner)) throw new Error(`"${r.owner}" is not a GitHub owner name: use letters, digits and "-"`);
  if (!REPO_RE.test(r.repo) || r.repo === '.' || r.repo === '..') {
    throw new Error(`"${r.repo}" is not a GitHub repository name: use letters, digits, ".", "_" and "-"`);
  }
  return r;
}

/**
 * owner/repo from a git remote URL: https://github.com/o/r(.git), git@github.com:o/r.git,
 * ssh://git@github.com/o/r.git. `host` lets GitHub Enterprise remotes match too.
 * Returns undefined when the remote is not on that host (a plain git remote).
 */
export function parseGitHubRemote(url: string, host = 'github.com'): GitHubRepo | undefined {
  const h = host.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m =
    new RegExp(`^(?:https?://(?:[^@/]+@)?|ssh://(?:[^@/]+@)?|git://)${h}(?::[0-9]+)?/([^/]+)/([^/]+?)(?:\\.git)?/?$`).exec(url) ??
    new RegExp(`^(?:[^@/]+@)?${h}:([^/]+)/([^/]+?)(?:\\.git)?/?$`).exec(url);
  if (!m) return undefined;
  const r = { owner: m[1]!, repo: m[2]! };
  return OWNER_RE.test(r.owner) && REPO_RE.test(r.repo) ? r : undefined;
}

export function createGitHubClient(opts: GitHubClientOptions): Octokit {
  if (!opts.token || /\s/.test(opts.token)) {
    throw new Error('A GitHub token is needed (no spaces): sign in to GitHub or store a token with the "repo" scope');
  }
  const baseUrl = opts.baseUrl ?? 'https://api.github.com';
  if (!/^https?:\/\/[^\s]+$/.test(baseUrl)) throw new Error(`GitHub API URL "${baseUrl}" must start with https:// (or http:// for a local server)`);
  return new Octokit({
    auth: opts.token,
    baseUrl: baseUrl.replace(/\/+$/, ''),
    userAgent: 'nixfleet-vscode',
    request: { fetch: fetchWithTimeout(opts.timeoutMs ?? 30_000) },
    // Octokit's default logger writes warnings to the console; errors reach the user through explain().
    log: { debug() {}, info() {}, warn() {}, error() {} },
  });
}

/** Octokit has no timeout of its own: a hung connection would wait forever. */
function fetchWithTimeout(ms: number): typeof fetch {
  return (input, init) => fetch(input, { ...init, signal: init?.signal ?? AbortSignal.timeout(ms) });
}

/** The login of the token's user, for the audit log. */
export async function gitHubLogin(octokit: Octokit): Promise<string> {
  try {
    const { data } = await octokit.rest.users.getAuthenticated();
    return data.login;
  } catch (err) {
    throw explain(err, 'reading the signed-in GitHub user');
  }
}
