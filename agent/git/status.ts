// The host's nixcfg checkout as status reports it. Never fetches (status must be cheap and
// work offline) and never throws: a broken checkout is reported in `error`.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { simpleGit, type SimpleGit, type StatusResult } from 'simple-git';
import { flakeLockHash, lockedInputs, type HostStatus } from '../../protocol';
import type { AgentConfig } from '../config';

export type CheckoutStatus = NonNullable<HostStatus['checkout']>;

/** Tracked changes make a flake build differ from its revision; untracked files are invisible to it. */
export function hasTrackedChanges(status: StatusResult): boolean {
  return status.files.some((f) => !(f.index === '?' && f.working_dir === '?'));
}

export async function readCheckout(config: Pick<AgentConfig, 'flake'>): Promise<CheckoutStatus> {
  const result: CheckoutStatus = { path: config.flake, dirty: false };
  try {
    const git = simpleGit({ baseDir: config.flake });
    const status = await git.status();
    result.dirty = hasTrackedChanges(status);
    if (!status.detached && status.current) result.branch = status.current;
    if (status.tracking) {
      result.ahead = status.ahead;
      result.behind = status.behind;
      result.fetchedAt = await lastFetch(git, config.flake, status.tracking);
    }
    try {
      result.revision = (await git.revparse(['--verify', 'HEAD'])).trim();
    } catch {
      // A repository without commits has no revision; that is not an error.
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

/**
 * When the checkout last heard from its upstream: the newer of FETCH_HEAD (every fetch and
 * pull writes it) and the upstream ref's reflog (a clone writes that, not FETCH_HEAD).
 * ahead/behind are only as true as this time: the caller says when it was.
 */
async function lastFetch(git: SimpleGit, baseDir: string, tracking: string): Promise<string | undefined> {
  try {
    const [fetchHead, refLog] = (await git.raw(['rev-parse', '--git-path', 'FETCH_HEAD', '--git-path', `logs/refs/remotes/${tracking}`])).trim().split('\n');
    const times = await Promise.all(
      [fetchHead, refLog].map((f) => (f ? stat(path.resolve(baseDir, f)).then((s) => s.mtimeMs, () => 0) : 0)),
    );
    const newest = Math.max(...times);
    return newest > 0 ? new Date(newest).toISOString() : undefined;
  } catch {
    return undefined;
  }
}

export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (text.split('\n').find((l) => l.trim().length > 0) ?? text).trim();
}
