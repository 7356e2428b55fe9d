// op.json per op: the protocol's OpInfo, replaced atomically. Listing reads every op
// directory; ids are sorted newest first by start time.
import { mkdirSync, readdirSync } from 'node:fs';
import { opInfo, type OpInfo } from '../../protocol';
import { readJsonSync, syncFiles, writeJsonAtomicSync } from '../state/atomic';
import { opDir, opInfoFile, opsDir } from './paths';

export function createOpDir(stateDir: string, opId: string): void {
  mkdirSync(opsDir(stateDir), { recursive: true, mode: 0o700 });
  mkdirSync(opDir(stateDir, opId), { mode: 0o700 });
}

/** `durable: false` only where syncOpInfo follows (an op's first record, at accept). */
export function writeOpInfo(stateDir: string, info: OpInfo, opts: { durable?: boolean } = {}): void {
  writeJsonAtomicSync(opInfoFile(stateDir, info.id), opInfo.parse(info), opts);
}

/** Make an op's record durable, and its directory's entry in ops/ with it. */
export function syncOpInfo(stateDir: string, opId: string): void {
  syncFiles([opInfoFile(stateDir, opId), opDir(stateDir, opId)]);
}

/** The op's recorded state, or undefined when no such op exists. Throws on a corrupt file. */
export function readOpInfo(stateDir: string, opId: string): OpInfo | undefined {
  const file = opInfoFile(stateDir, opId);
  let raw: unknown;
  try {
    raw = readJsonSync(file);
  } catch (err) {
    throw new Error(`${file} cannot be read (${(err as Error).message}); the op's state is damaged`);
  }
  if (raw === undefined) return undefined;
  const parsed = opInfo.safeParse(raw);
  if (!parsed.success) throw new Error(`${file} is not a valid op record: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Ids of every op directory. */
export function listOpIds(stateDir: string): string[] {
  try {
    return readdirSync(opsDir(stateDir)).filter((n) => /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(n));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Recorded ops, newest first; unreadable records are skipped. */
export function listOps(stateDir: string, limit = Infinity): OpInfo[] {
  const ops: OpInfo[] = [];
  for (const id of listOpIds(stateDir)) {
    try {
      const info = readOpInfo(stateDir, id);
      if (info) ops.push(info);
    } catch {
      /* half-created or damaged op directory: not listable */
    }
  }
  ops.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.id < b.id ? 1 : -1));
  return ops.slice(0, limit);
}
