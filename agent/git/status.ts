// The host's nixcfg checkout as status reports it. Never fetches (status must be cheap and
// work offline) and never throws: a broken checkout is reported in `error`.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { simpleGit, type StatusResult } from 'simple-git';
import { flakeLockHash, lockedInputs, type HostStatus } from '../../protocol';
import type { AgentConfig } from '../config';

export type CheckoutStatus = NonNullable<HostStatus['checkout']>;

/** Tracked changes make a flake build differ from its revision; untracked files are invisible to it. */
export function hasTrackedChanges(status: StatusResult): boolean {
  return status.files.some((f) => !(f.index === '?' && f.working_dir === '?'));
}

/**
 * The checkout as status reports it, from one `git status` (porcelain v2 gives the commit, the
 * branch, its upstream and ahead/behind; untracked files are not listed: they do not make a
 * flake build differ) and, beside it, where git keeps the fetch times. Status is asked for by
 * every window that opens, so it costs two git processes at once, not three one after another.
 */
export async function readCheckout(config: Pick<AgentConfig, 'flake'>): Promise<CheckoutStatus> {
  const result: CheckoutStatus = { path: config.flake, dirty: false };
  try {
    const git = simpleGit({ baseDir: config.flake });
    const [porcelain, gitPaths] = await Promise.all([
      git.raw(['status', '--porcelain=v2', '--branch', '-z', '--untracked-files=no']),
      // Where FETCH_HEAD and the upstream's reflog live (a worktree keeps them apart).
      git.raw(['rev-parse', '--git-path', 'FETCH_HEAD', '--git-common-dir']).catch(() => undefined),
    ]);
    const st = parseStatusV2(porcelain);
    result.dirty = st.trackedChanges;
    if (st.branch) result.branch = st.branch;
    if (st.revision) result.revision = st.revision;
    if (st.upstream) {
      if (st.ahead !== undefined) result.ahead = st.ahead;
      if (st.behind !== undefined) result.behind = st.behind;
      result.fetchedAt = await lastFetch(config.flake, gitPaths, st.upstream);
    }
  } catch (err) {
    result.error = `cannot read the nixcfg checkout ${config.flake}: ${firstLine(err)}; check that it is a git repository the agent can read`;
    return result;
  }
  try {
    const lock = await readFile(path.join(config.flake, 'flake.lock'));
    result.lockHash = flakeLockHash(lock);
    result.lockInputs = lockedInputs(lock);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      result.error = `cannot read ${path.join(config.flake, 'flake.lock')}: ${(err as NodeJS.ErrnoException).code ?? err}`;
    }
  }
  return result;
}

interface StatusV2 {
  /** HEAD's commit; undefined before the first commit. */
  revision?: string;
  /** undefined when detached. */
  branch?: string;
  upstream?: string;
  ahead?: number;
  behind?: number;
  trackedChanges: boolean;
}

/** `git status --porcelain=v2 --branch -z`: its `# branch.*` headers, and whether any tracked entry is listed. */
export function parseStatusV2(out: string): StatusV2 {
  const st: StatusV2 = { trackedChanges: false };
  const fields = out.split('\0');
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const header = /^# branch\.(\w+) (.*)$/.exec(f);
    if (header) {
      const [, key, value] = header as unknown as [string, string, string];
      if (key === 'oid' && value !== '(initial)') st.revision = value;
      else if (key === 'head' && value !== '(detached)') st.branch = value;
      else if (key === 'upstream') st.upstream = value;
      else if (key === 'ab') {
        const ab = /^\+(\d+) -(\d+)$/.exec(value);
        if (ab) [st.ahead, st.behind] = [Number(ab[1]), Number(ab[2])];
      }
      continue;
    }
    // Changed (1), renamed or copied (2, followed by its original path as the next field), unmerged (u).
    if (/^[12u] /.test(f)) st.trackedChanges = true;
    if (f.startsWith('2 ')) i++;
  }
  return st;
}

/**
 * When the checkout last heard from its upstream: the newer of FETCH_HEAD (every fetch and
 * pull writes it) and the upstream ref's reflog (a clone writes that, not FETCH_HEAD).
 * ahead/behind are only as true as this time: the caller says when it was.
 */
async function lastFetch(baseDir: string, gitPaths: string | undefined, upstream: string): Promise<string | undefined> {
  const [fetchHead, commonDir] = (gitPaths ?? '').trim().split('\n');
  if (!fetchHead || !commonDir) return undefined;
  const files = [fetchHead, path.join(commonDir, 'logs', 'refs', 'remotes', upstream)];
  const times = await Promise.all(files.map((f) => stat(path.resolve(baseDir, f)).then((s) => s.mtimeMs, () => 0)));
  const newest = Math.max(...times);
  return newest > 0 ? new Date(newest).toISOString() : undefined;
}

export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (text.split('\n').find((l) => l.trim().length > 0) ?? text).trim();
}
