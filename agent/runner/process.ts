// Telling a live process from a dead one whose pid was reused: pid plus the kernel's
// process start time (/proc/<pid>/stat field 22). Where /proc is missing (macOS) the
// pid alone is used.
import { readFileSync } from 'node:fs';

/** Start time of `pid` in clock ticks since boot, or undefined when unknown/not running. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ")".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After ")", fields start at field 3 (state); starttime is field 22.
    const state = fields[0];
    if (state === 'Z' || state === 'X') return undefined; // a zombie has finished
    return fields[22 - 3];
  } catch {
    return undefined;
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const haveProc = (() => {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();

/** True when the process recorded as (pid, startTime) still runs. */
export function processRunning(pid: number, startTime: string | undefined): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (!haveProc) return pidAlive(pid);
  const now = processStartTime(pid);
  if (now === undefined) return false;
  return startTime === undefined || now === startTime;
}

export function selfIdentity(): { pid: number; startTime: string | undefined } {
  return { pid: process.pid, startTime: processStartTime(process.pid) };
}
