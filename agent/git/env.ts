// The environment of every git the agent runs: it never prompts. The agent is unattended
// (a service, a detached op worker, a controller's ssh session), so a remote that wants a
// password or an unknown host key confirmation must fail at once with git's error, not
// wait for an answer nobody gives. For ssh remotes that means ssh's BatchMode and a
// ConnectTimeout; for https remotes GIT_TERMINAL_PROMPT=0.
import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { simpleGit, type SimpleGit } from 'simple-git';
import { gitConfigKey } from './configKey';

const execFileP = promisify(execFile);

/** Seconds ssh waits for the TCP connection to a remote before giving up. */
export const GIT_SSH_CONNECT_TIMEOUT_S = 20;
/** Appended to the ssh command git runs: no prompt ever, bounded connect. */
export const GIT_SSH_OPTIONS = `-o BatchMode=yes -o ConnectTimeout=${GIT_SSH_CONNECT_TIMEOUT_S}`;

/** Who commits (e.g. set in the agent's service unit); harmless to pass to git. */
export const GIT_IDENTITY_VARS = ['GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL'];
// simple-git refuses to run while these are set (they could run programs); nothing the
// agent runs opens an editor or a pager.
const NO_EDITOR_VARS = ['EDITOR', 'VISUAL', 'PAGER', 'SSH_ASKPASS', 'SSH_ASKPASS_REQUIRE'];

/**
 * The ssh command for git: the one the user configured (GIT_SSH_COMMAND in the agent's
 * environment, else core.sshCommand) with BatchMode and ConnectTimeout appended, so their
 * keys and options still apply (ssh takes the first value of an option, so an explicit
 * choice of theirs wins). A configured command that is not ssh (plink, a wrapper with
 * other options) is left as it is: those options would break it.
 */
export function batchSshCommand(configured: string | undefined): string {
  const base = configured?.trim();
  if (!base) return `ssh ${GIT_SSH_OPTIONS}`;
  // Already ours (an op worker sets it for everything it runs): do not append twice.
  if (base.endsWith(GIT_SSH_OPTIONS)) return base;
  const first = base.split(/\s+/)[0]!.replace(/^["']|["']$/g, '');
  return path.basename(first) === 'ssh' ? `${base} ${GIT_SSH_OPTIONS}` : base;
}

/** git's answers for core.sshCommand by checkout, with the key (configKey.ts) they were given under. */
const asked = new Map<string, { key: string; value: string | undefined }>();

/**
 * core.sshCommand as git would read it in `dir` (repository, global and system config).
 * Asked once, and again whenever anything git reads for it changed (configKey.ts): a
 * standby worker asks before its op, so the op's commands need not wait for a git process.
 */
export async function configuredSshCommand(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (env.GIT_SSH_COMMAND?.trim()) return env.GIT_SSH_COMMAND;
  // Taken before git runs: a file changed while it runs makes the next call ask again.
  const key = gitConfigKey(dir);
  const known = remembered(dir, key);
  if (known) return known.value;
  let value: string | undefined;
  try {
    const { stdout } = await execFileP('git', ['config', '--get', 'core.sshCommand'], { cwd: dir, timeout: 10_000 });
    value = stdout.trim() || undefined;
  } catch (err) {
    // Exit 1: not set. Anything else (a broken repository, a git that could not run) is not
    // remembered; it shows up in the git command that follows.
    if ((err as { code?: unknown }).code !== 1) return undefined;
  }
  if (key !== undefined) asked.set(dir, { key, value });
  else asked.delete(dir);
  return value;
}

/** The answer configuredSshCommand would give without running git, when it has one. */
function knownSshCommand(dir: string, env: NodeJS.ProcessEnv): { value: string | undefined } | undefined {
  if (env.GIT_SSH_COMMAND?.trim()) return { value: env.GIT_SSH_COMMAND };
  return remembered(dir, gitConfigKey(dir));
}

/** git's answer in `dir` as asked before, when nothing it reads changed since (`key`, configKey.ts). */
function remembered(dir: string, key: string | undefined): { value: string | undefined } | undefined {
  const known = asked.get(dir);
  return key !== undefined && known?.key === key ? { value: known.value } : undefined;
}

/** process.env for git: no prompts, no editor, no ambient GIT_* redirection. */
export function gitEnv(sshCommand: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || NO_EDITOR_VARS.includes(k.toUpperCase())) continue;
    if (!k.toUpperCase().startsWith('GIT_') || GIT_IDENTITY_VARS.includes(k)) env[k] = v;
  }
  return { ...env, ...extra, GIT_TERMINAL_PROMPT: '0', GIT_SSH_COMMAND: sshCommand };
}

/** Environment for other programs that run git underneath (jj git fetch/push). */
export async function remoteToolEnv(dir: string): Promise<Record<string, string>> {
  return toolEnvWith(await configuredSshCommand(dir));
}

/**
 * remoteToolEnv's answer now, when no git needs asking (what git reads for it is unchanged
 * since it was asked): a command can then start in this call (a standby's first command).
 */
export function knownToolEnv(dir: string): Record<string, string> | undefined {
  const known = knownSshCommand(dir, process.env);
  return known && toolEnvWith(known.value);
}

function toolEnvWith(sshCommand: string | undefined): Record<string, string> {
  return { GIT_TERMINAL_PROMPT: '0', GIT_SSH_COMMAND: batchSshCommand(sshCommand) };
}

export interface OpenGitOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Extra variables (e.g. GIT_OPTIONAL_LOCKS=0). */
  env?: Record<string, string>;
}

/** A simple-git instance whose git never prompts; ssh remotes run in BatchMode. */
export async function openGit(dir: string, opts: OpenGitOptions = {}): Promise<SimpleGit> {
  return openGitWith(dir, batchSshCommand(await configuredSshCommand(dir)), opts);
}

/**
 * A git for commands that never reach a remote (status, rev-parse): core.sshCommand is not
 * looked up, which saves a git process on the switch path. Its ssh command is the batch
 * default, never used.
 */
export function openLocalGit(dir: string, opts: OpenGitOptions = {}): SimpleGit {
  return openGitWith(dir, batchSshCommand(undefined), opts);
}

/** openGit with the ssh command already resolved (sync, for callers that cannot wait). */
export function openGitWith(dir: string, sshCommand: string, opts: OpenGitOptions = {}): SimpleGit {
  const extra = opts.env ?? {};
  const git = simpleGit({
    baseDir: dir,
    ...(opts.signal ? { abort: opts.signal } : {}),
    ...(opts.timeoutMs ? { timeout: { block: opts.timeoutMs } } : {}),
    // simple-git's documented way to pass GIT_SSH_COMMAND: the command is ours (above).
    unsafe: { allowUnsafeSshCommand: true },
    allowEnvironment: ['GIT_TERMINAL_PROMPT', 'GIT_SSH_COMMAND', ...GIT_IDENTITY_VARS, ...Object.keys(extra)],
  });
  return git.env(gitEnv(sshCommand, extra));
}

/**
 * Say what a failed fetch/push/ls-remote needs, naming the remote: ssh's own failures
 * (unknown or changed host key, refused key, no connection) get the fix; anything else
 * is git's first error line. `undefined` when the error is not about reaching the remote.
 */
export function explainRemoteFailure(stderr: string, remote: string, url: string | undefined): string | undefined {
  const where = `remote "${remote}"${url ? ` (${url})` : ''}`;
  const user = agentUser();
  const server = url ? sshServerOf(url) : undefined;
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(stderr)) {
    return `the ssh host key of ${where} changed since it was recorded in known_hosts; verify the new key with the server's owner, remove the old one (ssh-keygen -R HOST as ${user}), then retry`;
  }
  if (/Host key verification failed|No \S+ host key is known/i.test(stderr)) {
    const scan = server ? `ssh-keyscan ${server.port ? `-p ${server.port} ` : ''}${server.host}` : 'ssh-keyscan HOST';
    return `the ssh host key of ${where} is not in ${user}'s known_hosts and git runs without prompts (BatchMode); check the key's fingerprint, add it (${scan} >> ~/.ssh/known_hosts as ${user}, or connect once by hand), then retry`;
  }
  if (/Permission denied \(/i.test(stderr)) {
    return `the ssh server of ${where} refused ${user}'s key (${(/Permission denied \([^)]*\)/.exec(stderr) ?? ['Permission denied'])[0]}); add ${user}'s public key to that server (for GitHub: a deploy key), or set core.sshCommand to use another key, then retry`;
  }
  if (/Connection timed out|Connection refused|Could not resolve hostname|No route to host|Network is unreachable|Operation timed out/i.test(stderr)) {
    const line = stderr.split('\n').find((l) => /Connection|resolve|route|unreachable|timed out/i.test(l))?.trim();
    return `cannot reach ${where}${line ? ` (${line})` : ''}; check the network and the remote's address, then retry`;
  }
  return undefined;
}

function agentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.LOGNAME ?? 'the agent user';
  }
}

/** Host and port of an ssh remote: ssh://[user@]host[:port]/path or scp-like [user@]host:path. */
export function sshServerOf(url: string): { host: string; port?: string } | undefined {
  if (/^(git\+)?ssh:\/\//.test(url)) {
    try {
      const u = new URL(url.replace(/^git\+/, ''));
      return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), ...(u.port ? { port: u.port } : {}) };
    } catch {
      return undefined;
    }
  }
  const scp = /^(?:[^@/:]+@)?(\[[^\]]+\]|[^/:]+):(?!\/\/)/.exec(url);
  return scp ? { host: scp[1]!.replace(/^\[(.*)\]$/, '$1') } : undefined;
}

/** URL of `remote` in `dir`, for messages (undefined when git cannot tell). */
export async function remoteUrl(dir: string, remote: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileP('git', ['remote', 'get-url', '--', remote], { cwd: dir, timeout: 10_000 });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}
