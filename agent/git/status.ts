// The host's nixcfg checkout as status reports it. Never fetches (status must be cheap and
// work offline) and never throws: a broken checkout is reported in `error`.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { simpleGit, type StatusResult } from 'simple-git';
import { flakeLockHash, type HostStatus } from '../../protocol';
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
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      result.error = `cannot read ${path.join(config.flake, 'flake.lock')}: ${(err as NodeJS.ErrnoException).code ?? err}`;
    }
  }
  return result;
}

export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (text.split('\n').find((l) => l.trim().length > 0) ?? text).trim();
}
