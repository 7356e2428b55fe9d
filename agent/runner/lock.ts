// The host lock: one mutating op per host, across the agent, its workers and CLI
// processes. `<stateDir>/lock` appears atomically (link of a written file); it names the holder (op, kind,
// pid, process start time, since). A lock whose holder process is gone is stale and
// may be taken over; the takeover itself is serialised by a second O_EXCL file so two
// processes can never both replace the same stale lock.
import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { opId, opKind, type OpKind } from '../../protocol';
import { writeJsonAtomicSync } from '../state/atomic';
import { lockFile } from '../journal/paths';
import { processRunning, selfIdentity } from './process';

export const lockHolder = z.object({
  op: opId,
  kind: opKind,
  pid: z.number().int(),
  startTime: z.string().optional(),
  since: z.string(),
});
export type LockHolder = z.infer<typeof lockHolder>;

export class BusyError extends Error {
  override name = 'BusyError';
  constructor(readonly holder: LockHolder) {
    super(`busy: ${holder.kind} ${holder.op} running since ${holder.since}`);
  }
}

/** A takeover guard older than this belongs to a process that died mid-takeover. */
const GUARD_STALE_MS = 10_000;

export function readLock(stateDir: string): LockHolder | undefined {
  let text: string;
  try {
    text = readFileSync(lockFile(stateDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = lockHolder.safeParse(safeJson(text));
  // An unreadable lock (torn by a crash between create and write) has no live holder.
  return parsed.success ? parsed.data : { op: 'unknown', kind: 'switch', pid: -1, since: new Date(0).toISOString() };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function holderAlive(h: LockHolder): boolean {
  return processRunning(h.pid, h.startTime);
}

/** The live holder, or undefined when the host is free (a stale lock counts as free). */
export function currentHolder(stateDir: string): LockHolder | undefined {
  const h = readLock(stateDir);
  return h && holderAlive(h) ? h : undefined;
}

/**
 * Create the lock with its content already in place: written to a private file, then
 * hard-linked to the lock's name (link() fails with EEXIST like O_EXCL). Creating the
 * file empty and writing afterwards let a racer read an empty lock in between, take it for
 * a stale one and delete it, so two processes held the lock at once.
 */
function tryCreate(stateDir: string, holder: LockHolder): boolean {
  const file = lockFile(stateDir);
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}`;
  writeFileSync(tmp, JSON.stringify(holder) + '\n', { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Take the lock for op `op` held by the calling process. Throws BusyError when another
 * live holder has it.
 */
export function acquireLock(stateDir: string, op: string, kind: OpKind, since = new Date().toISOString()): LockHolder {
  const me = selfIdentity();
  const holder: LockHolder = { op, kind, pid: me.pid, startTime: me.startTime, since };
  for (let attempt = 0; attempt < 100; attempt++) {
    if (tryCreate(stateDir, holder)) return holder;
    const existing = readLock(stateDir);
    if (!existing) continue; // released meanwhile
    if (holderAlive(existing)) throw new BusyError(existing);
    // Another process is replacing the stale lock: give it a moment.
    if (!takeOverStale(stateDir, existing)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  }
  const h = readLock(stateDir);
  throw new BusyError(h ?? holder);
}

/**
 * Remove a stale lock, under the takeover guard, only if it is still the same stale lock.
 * False when another process holds the guard.
 */
function takeOverStale(stateDir: string, stale: LockHolder): boolean {
  const guard = lockFile(stateDir) + '.takeover';
  let fd: number;
  try {
    fd = openSync(guard, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    try {
      if (Date.now() - statSync(guard).mtimeMs > GUARD_STALE_MS) unlinkSync(guard);
    } catch {
      /* someone else removed it */
    }
    return false; // another process is taking over; the caller retries
  }
  closeSync(fd);
  try {
    const again = readLock(stateDir);
    if (again && JSON.stringify(again) === JSON.stringify(stale) && !holderAlive(again)) {
      unlinkSync(lockFile(stateDir));
    }
  } finally {
    unlinkSync(guard);
  }
  return true;
}

/**
 * Hand the lock held for `op` to the calling process (a worker taking over from the
 * agent or CLI that spawned it). Throws BusyError if a different op holds it.
 */
export function claimLock(stateDir: string, op: string, kind: OpKind, since: string): LockHolder {
  const existing = readLock(stateDir);
  if (existing && existing.op === op) {
    const me = selfIdentity();
    const holder: LockHolder = { op, kind, pid: me.pid, startTime: me.startTime, since: existing.since };
    // The holder is a live process: a power cut makes any lock stale (atomic, not fsynced).
    writeJsonAtomicSync(lockFile(stateDir), holder, { durable: false });
    return holder;
  }
  return acquireLock(stateDir, op, kind, since);
}

/** Release the lock if (and only if) `op` holds it. */
export function releaseLock(stateDir: string, op: string): void {
  const existing = readLock(stateDir);
  if (existing?.op !== op) return;
  try {
    unlinkSync(lockFile(stateDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
