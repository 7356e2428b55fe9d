// What the deploy commands share (not a command itself): one DeployService per extension
// instance, the user's identity for the audit log, and GitHub access for the workspace repo.
import path from 'node:path';
import * as vscode from 'vscode';
import type { Container } from '../container';
import { localUser } from '../deploy/audit';
import { fleetAgents } from '../deploy/fleetAgents';
import { DeployService } from '../deploy/service';
import type { DeployRecord } from '../deploy/types';
import { createGitHubClient, gitHubLogin, parseGitHubRemote, type GitHubRepo } from '../github/client';
import { remoteUrl } from '../gitops/repo';
import { getGitHubToken } from '../ui/githubAuth';

const services = new WeakMap<Container, DeployService>();

export function deployService(c: Container): DeployService {
  let s = services.get(c);
  if (!s) {
    const dir = c.context.globalStorageUri.fsPath;
    s = new DeployService({ agents: fleetAgents(c.fleet), auditFile: path.join(dir, 'deploy-audit.jsonl') });
    services.set(c, s);
  }
  return s;
}

export function deploySettings() {
  const cfg = vscode.workspace.getConfiguration('nixfleet');
  return {
    canaries: cfg.get<string[]>('deploy.canaryHosts', []).filter((x) => typeof x === 'string'),
    parallelism: settingInt(cfg.get<unknown>('deploy.parallelism', 4), 'nixfleet.deploy.parallelism', 1, 64),
    showClosureDiff: cfg.get<boolean>('deploy.showClosureDiff', true),
    magicRollback: cfg.get<boolean>('magicRollback', true),
    /** GitHub Enterprise (or a test server): the REST API root. */
    githubApiUrl: apiUrlSetting(cfg.get<unknown>('github.apiUrl')),
  };
}

function settingInt(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new Error(`setting ${name} must be a whole number from ${min} to ${max}; fix it in Settings`);
  }
  return v;
}

function apiUrlSetting(v: unknown): string | undefined {
  if (v === undefined || v === '') return undefined;
  const fix = 'give the REST API root such as https://github.example.com/api/v3, or clear the setting for github.com';
  if (typeof v !== 'string') throw new Error(`setting nixfleet.github.apiUrl must be text: ${fix}`);
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new Error(`setting nixfleet.github.apiUrl is not a URL: ${fix}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`setting nixfleet.github.apiUrl must be an http(s) URL: ${fix}`);
  return v.replace(/\/+$/, '');
}

export interface GitHubAccess {
  octokit: ReturnType<typeof createGitHubClient>;
  repo: GitHubRepo;
  login: string;
}

/** The workspace repository on GitHub, or undefined when origin is a plain git remote. */
export async function workspaceGitHubRepo(c: Container): Promise<GitHubRepo | undefined> {
  const dir = c.workspaceDir;
  if (!dir) return undefined;
  const url = await remoteUrl(dir);
  if (!url) return undefined;
  const api = deploySettings().githubApiUrl;
  const host = api ? new URL(api).hostname.replace(/^api\./, '') : 'github.com';
  return parseGitHubRemote(url, host) ?? (host !== 'github.com' ? parseGitHubRemote(url) : undefined);
}

/** Octokit for the workspace repo with the user's token (asking for it when interactive). */
export async function gitHubAccess(c: Container, interactive: boolean, opts: { timeoutMs?: number } = {}): Promise<GitHubAccess | undefined> {
  const repo = await workspaceGitHubRepo(c);
  if (!repo) return undefined;
  const creds = await getGitHubToken(c.context.secrets, { interactive, apiUrl: deploySettings().githubApiUrl });
  if (!creds) {
    throw new Error(`${repo.owner}/${repo.repo} is on GitHub but there is no GitHub token: sign in to GitHub or run "NixFleet: Set GitHub Token"`);
  }
  const octokit = createGitHubClient({ token: creds.token, baseUrl: deploySettings().githubApiUrl, timeoutMs: opts.timeoutMs });
  const login = creds.login ?? (await gitHubLogin(octokit));
  return { octokit, repo, login };
}

/** Who acts, for the audit log: the GitHub login when a token is at hand, else user@machine. */
export async function whoAmI(c: Container): Promise<string> {
  try {
    // Short timeout: an unreachable GitHub must not hold up a deploy for the audit log's sake.
    const gh = await gitHubAccess(c, false, { timeoutMs: 5_000 });
    if (gh) return gh.login;
  } catch {
    // No token or GitHub unreachable: the local user still identifies the action.
  }
  return localUser();
}

/** The deploy a command acts on: `{ deploy: id }` from the audit log, else the last one. */
export function deployFromArgs(c: Container, args: Record<string, unknown>): DeployRecord {
  const s = deployService(c);
  if (args.deploy !== undefined) {
    const found = s.audit.deploys().find((d) => d.id === args.deploy);
    if (!found) throw new Error(`deploy "${String(args.deploy)}" is not in the deploy audit log (${s.audit.file})`);
    return found;
  }
  const last = s.last();
  if (!last) throw new Error('there is no deploy yet: run "NixFleet: Deploy" first');
  return last;
}
