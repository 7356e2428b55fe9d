// The handoff between a serving agent and its standby worker (standby.ts starts them,
// standbyProcess.ts is the standby itself), as files in `<stateDir>/standby/<id>/`, a
// directory only the agent's user can write (the state directory is 0700 and checked at
// start), so a file there is the agent's word. Every step that decides who runs an op is
// one rename, so of two processes racing exactly one wins:
//   ahead    the agent, holding the host lock for an op it is accepting, writes `ahead` (the
//            op's id, kind and params; tmp + rename) and nudges the standby: it may start
//            the op's first command, which changes nothing on the host (a build), while
//            the op is recorded. An op not accepted after all retires the standby (which
//            stops that command); a command the op does not run is stopped by its worker;
//   handoff  the agent writes `op` (the op id; tmp + rename) and nudges the standby (SIGUSR2);
//   claim    the standby renames `op` → `claimed`: the op is its own;
//   revoke   the agent renames `op` → `revoked` (no claim in time): it starts a cold worker;
//   retire   any agent renames the whole directory aside: no claim can succeed after that.
import { existsSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { OP_ID_RE, opKind } from '../../protocol';
import { readJsonSync, writeJsonAtomicSync } from '../state/atomic';
import { CREATE_NEW, writeNoFollowSync } from '../state/noFollow';
import { processRunning } from './process';

/** A standby's id: names its directory, and its unit under systemd. */
export const STANDBY_ID_RE = /^[0-9a-f]{12}$/;

export const standbyRoot = (stateDir: string) => path.join(stateDir, 'standby');

export function standbyDir(stateDir: string, id: string): string {
  if (!STANDBY_ID_RE.test(id)) throw new Error(`internal: "${id}" is not a standby id`);
  return path.join(standbyRoot(stateDir), id);
}

/** The systemd unit a standby runs in under systemd-run; it keeps it when it becomes an op's worker. */
export const standbyUnit = (id: string) => `nixfleet-standby-${id}`;

/**
 * Written by the agent before it starts the standby: whose standby it is, and the agent's
 * config (what its ops run with: the standby asks git and starts an op's first command for
 * it; the op's own request decides what the op runs).
 */
const ownerSchema = z.object({ pid: z.number().int().positive(), startTime: z.string().optional(), version: z.string(), config: z.unknown().optional() });
export type StandbyOwner = z.infer<typeof ownerSchema>;

/** Written by the standby once loaded and ready for an op (its SIGUSR2 handler is in place). */
const readySchema = z.object({ pid: z.number().int().positive(), startTime: z.string().optional(), unit: z.string().optional(), version: z.string() });
export type StandbyReady = z.infer<typeof readySchema>;

const ownerFile = (dir: string) => path.join(dir, 'agent.json');
const readyFile = (dir: string) => path.join(dir, 'standby.json');
const opFile = (dir: string) => path.join(dir, 'op');
const aheadFile = (dir: string) => path.join(dir, 'ahead');
const claimedFile = (dir: string) => path.join(dir, 'claimed');
/** The standby's stderr; linked into the op's directory as worker.log when it claims an op. */
export const standbyLog = (dir: string) => path.join(dir, 'worker.log');

export function writeOwner(dir: string, owner: StandbyOwner): void {
  writeJsonAtomicSync(ownerFile(dir), owner, { durable: false });
}

export function readOwner(dir: string): StandbyOwner | undefined {
  return parse(ownerSchema, ownerFile(dir));
}

export function writeReady(dir: string, ready: StandbyReady): void {
  writeJsonAtomicSync(readyFile(dir), ready, { durable: false });
}

export function readReady(dir: string): StandbyReady | undefined {
  return parse(readySchema, readyFile(dir));
}

function parse<T>(schema: z.ZodType<T>, file: string): T | undefined {
  try {
    const r = schema.safeParse(readJsonSync(file));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** The op an agent is accepting, told to its standby ahead of the handoff. */
const aheadSchema = z.strictObject({ op: z.string().regex(OP_ID_RE), kind: opKind, params: z.record(z.string(), z.unknown()) });
export type AheadNotice = z.infer<typeof aheadSchema>;

/** Tell the standby in `dir` the op being accepted: false when the directory is gone (retired). */
export function writeAhead(dir: string, notice: AheadNotice): boolean {
  return replaceWhole(aheadFile(dir), JSON.stringify(notice) + '\n');
}

/** The op its agent is accepting, when it told one. */
export function readAhead(dir: string): AheadNotice | undefined {
  return parse(aheadSchema, aheadFile(dir));
}

/** The agent hands op `opId` to the standby in `dir`: false when the directory is gone (retired). */
export function handOff(dir: string, opId: string): boolean {
  return replaceWhole(opFile(dir), opId + '\n');
}

/** Whole or not at all (tmp + rename), but not fsynced: after a crash there is no standby to read it. */
function replaceWhole(file: string, text: string): boolean {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeNoFollowSync(tmp, text, CREATE_NEW);
    renameSync(tmp, file);
    return true;
  } catch (err) {
    rmSync(tmp, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** The standby takes the op handed to it: its id, or undefined when none is (or it was revoked, or the standby retired). */
export function claim(dir: string): string | undefined {
  let opId: string;
  try {
    opId = readFileSync(opFile(dir), 'utf8').trim();
  } catch {
    return undefined;
  }
  // Only the agent writes here, whole (tmp + rename): anything else is not an op to run.
  if (!OP_ID_RE.test(opId)) return undefined;
  try {
    renameSync(opFile(dir), claimedFile(dir));
  } catch {
    return undefined; // revoked, or the directory was retired: not ours
  }
  return opId;
}

/** Did the standby claim the op handed to it? */
export const claimed = (dir: string) => existsSync(claimedFile(dir));

/**
 * The agent takes back a handoff the standby did not claim in time. True only when this
 * rename took it (no standby can claim it any more: start a cold worker). False when `op`
 * was gone: the standby claimed it (and may have removed its directory since), or another
 * agent retired the directory, perhaps after a claim; either way no second worker may start.
 */
export function revoke(dir: string): boolean {
  try {
    renameSync(opFile(dir), path.join(dir, 'revoked'));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * At an agent's start, for a standby an earlier agent left: take back the op that agent
 * handed it and it has not claimed (the agent was killed while the standby was loading or
 * stopped). The op was accepted, and op.start may have been answered: it needs a cold
 * worker now, since once its directory is retired no standby can claim it. Undefined
 * when nothing was handed, or the standby claimed it (it then runs the op).
 */
export function takeBack(dir: string): string | undefined {
  if (!revoke(dir)) return undefined;
  let opId: string;
  try {
    opId = readFileSync(path.join(dir, 'revoked'), 'utf8').trim();
  } catch {
    return undefined;
  }
  return OP_ID_RE.test(opId) ? opId : undefined;
}

/**
 * Retire the standby in `dir`: move its directory aside (from then on it can claim nothing),
 * stop it unless it already claimed an op (it is then that op's worker), remove the directory.
 * `pid` stops a standby that has not said it is ready yet (the agent's own direct child).
 */
export function retire(stateDir: string, id: string, opts: { pid?: number } = {}): void {
  const dir = standbyDir(stateDir, id);
  const aside = path.join(standbyRoot(stateDir), `.retired-${id}-${process.pid}`);
  try {
    renameSync(dir, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // retired already
    throw err;
  }
  if (!claimed(aside)) {
    const ready = readReady(aside);
    const target = ready && processRunning(ready.pid, ready.startTime) ? ready.pid : opts.pid;
    if (target !== undefined) {
      try {
        process.kill(target, 'SIGTERM');
      } catch {
        /* gone already */
      }
    }
  }
  rmSync(aside, { recursive: true, force: true });
}

/** Ids of the standbys in the state directory (retired ones being removed are not listed). */
export function listStandbys(stateDir: string): string[] {
  try {
    return readdirSync(standbyRoot(stateDir)).filter((n) => STANDBY_ID_RE.test(n));
  } catch {
    return [];
  }
}

/** Remove what retirements interrupted by a kill left behind. */
export function sweepRetired(stateDir: string): void {
  try {
    for (const n of readdirSync(standbyRoot(stateDir))) if (n.startsWith('.retired-')) rmSync(path.join(standbyRoot(stateDir), n), { recursive: true, force: true });
  } catch {
    /* no standby directory yet */
  }
}
