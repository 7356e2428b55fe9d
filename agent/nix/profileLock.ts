// Concurrent `nix-env --set` on one profile silently loses generations (TESTBED.md: 4
// writers x 25 sets kept 96-100). The host lock already serialises this agent's ops; this
// lock also covers anything else using this code on the same profile (a second agent or
// CLI with another stateDir). O_EXCL file beside the profile; stale when its pid is dead.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { OpError } from '../ops/types';

export const PROFILE_LOCK_WAIT_MS = 120_000;

export function profileLockPath(profile: string): string {
  return `${profile}.nixfleet-lock`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryTake(file: string): boolean {
  try {
    const fd = openSync(file, 'wx', 0o600);
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    let pid = NaN;
    try {
      pid = Number(readFileSync(file, 'utf8').trim());
    } catch {
      return false; // removed meanwhile: try again on the next round
    }
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) return false;
    if (pid === process.pid) return false; // held by this process: wait for it like anyone else
    rmSync(file, { force: true }); // stale: its holder is gone
    return false;
  }
}

/** Run `fn` holding the profile's lock; waits (bounded) for another holder to finish. */
export async function withProfileLock<T>(profile: string, host: string, fn: () => Promise<T>, waitMs = PROFILE_LOCK_WAIT_MS): Promise<T> {
  const file = profileLockPath(profile);
  // Monotonic time: a wall-clock step (NTP, a suspended VM) must neither end the wait early nor stretch it.
  const deadline = performance.now() + waitMs;
  while (!tryTake(file)) {
    if (performance.now() > deadline) {
      throw new OpError(`host ${host}: the profile ${profile} is locked by another process (${file}) for more than ${Math.round(waitMs / 1000)} s; wait for it to finish, or remove the lock file if no nixfleet process is running`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}
