// Accepting an op: the refusals (unknown kind, unauthenticated, invalid params, busy, an op
// id reused for something else), the host lock, and the files the worker starts from
// (audit start record, request.json, journal, op.json), in that order, nothing half-done.
// Starting its worker is launch.ts's.
import { renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { FINAL_OP_STATES, type ClientIdentity, type ErrorCode, type OpInfo, type OpKind } from '../../protocol';
import type { AgentConfig } from '../config';
import { AGENT_VERSION } from '../version';
import { parseOpParams, requireOp } from '../ops/registry';
import { actsOnHost, describeEffects, OpError, type OpDefinition } from '../ops/types';
import { createOpDir, readOpInfo, syncOpInfo, writeOpInfo } from '../journal/opStore';
import { journalFile, opDir, opInfoFile } from '../journal/paths';
import { auditStart } from '../journal/audit';
import { acquireLock, BusyError, holderAlive, readLock, releaseLock } from './lock';
import { readWorker, writeRequest } from './request';
import { requestCancel, signalWorker } from './control';
import { handOffOrSpawn, spawnCold, type LaunchHost } from './launch';
import { APPEND, writeNoFollowSync } from '../state/noFollow';

/** A request the manager refuses, with the protocol error code to answer it with. */
export class OpRequestError extends Error {
  override name = 'OpRequestError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface StartRequest {
  op: string;
  kind: OpKind;
  params: Record<string, unknown>;
  client: ClientIdentity;
  magicRollback?: boolean;
}

/** What accepting needs from the manager: the op's current record, and what to do once the worker runs. */
export interface AcceptHost extends LaunchHost {
  get(opId: string): OpInfo | undefined;
  /** op.json is written: the op is this process's own, not a foreign one to discover; follow it from now. */
  recorded(opId: string): void;
  /** Op `opId` is being accepted: a standby may start its first command now (standby.ts). */
  startAhead?(opId: string, kind: OpKind, params: Record<string, unknown>): void;
  /** Op `opId` told of by startAhead is not accepted after all. */
  withdrawAhead?(opId: string): void;
}

/** The op's definition, or the refusal to answer with when this agent has none. */
export function definitionOf(kind: OpKind, config: AgentConfig): OpDefinition {
  try {
    return requireOp(kind, config.host);
  } catch (err) {
    throw new OpRequestError('failed', (err as Error).message);
  }
}

/** Accept an op: returns the existing op when the id is known (nothing new runs). */
export async function acceptOp(m: AcceptHost, req: StartRequest, opts: { authenticated: boolean }): Promise<{ op: OpInfo; existing: boolean }> {
  const { config } = m;
  const stateDir = config.stateDir;
  const known = m.get(req.op);
  if (known) return { op: sameRequest(known, req), existing: true };
  const def = definitionOf(req.kind, config);
  const acts = actsOnHost(def);
  if (acts && !opts.authenticated) {
    throw new OpRequestError('unauthorized', `${req.kind} ${describeEffects(def)} on host ${config.host}, so it needs an authenticated controller: connect with the host's bearer token (or over SSH)`);
  }
  if (acts) await lockSettled(stateDir);
  // Everything below up to op.json is synchronous, so two starts in this process cannot
  // interleave; once op.json exists the id is taken and the lock held.
  const again = m.get(req.op);
  if (again) return { op: sameRequest(again, req), existing: true };
  let params: Record<string, unknown>;
  try {
    params = parseOpParams(def, config.host, req.params);
  } catch (err) {
    if (err instanceof OpError) throw new OpRequestError('invalid', err.message);
    throw err;
  }
  const startedAt = new Date().toISOString();
  if (acts) {
    try {
      acquireLock(stateDir, req.op, req.kind, startedAt);
    } catch (err) {
      if (err instanceof BusyError) throw new OpRequestError('busy', err.message);
      throw err;
    }
  }
  // The host is the op's from here: its first command (a build) may start in the standby
  // while the op is recorded below. Withdrawn (the standby retired) if the op is not accepted.
  if (m.startAhead && def.firstCommand?.(config, params as never)) m.startAhead(req.op, req.kind, req.params);
  try {
    try {
      createOpDir(stateDir, req.op);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        // Another process accepted the same id a moment ago.
        m.withdrawAhead?.(req.op);
        if (acts) releaseLock(stateDir, req.op);
        const other = await waitForInfo(stateDir, req.op);
        if (other) return { op: sameRequest(other, req), existing: true };
        // Its creator died between mkdir and op.json (kill -9): nothing ran, since the
        // worker is spawned only after op.json exists. Clear it and accept the op afresh.
        clearAbandoned(stateDir, req.op);
        return acceptOp(m, req, opts);
      }
      throw err;
    }
    const info: OpInfo = {
      id: req.op,
      kind: req.kind,
      params: req.params,
      state: 'running',
      client: req.client,
      startedAt,
      lastSeq: 0,
      agentVersion: AGENT_VERSION,
    };
    // Before anything is written or runs: an op the audit log cannot record does not start.
    try {
      auditStart(stateDir, info);
    } catch (err) {
      clearAbandoned(stateDir, req.op); // the op's claim (its empty directory) goes too: nothing half-done
      throw new OpRequestError('failed', `${req.kind} not started on host ${config.host}: its start cannot be recorded in the audit log ${path.join(stateDir, 'audit.jsonl')} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); if it is a symlink, remove it, then retry; nothing ran`);
    }
    writeRequest(stateDir, req.op, {
      kind: req.kind,
      params: req.params,
      client: req.client,
      config,
      magicRollback: req.magicRollback,
    });
    writeNoFollowSync(journalFile(stateDir, req.op), '', APPEND);
    if (m.handOff) {
      // The standby is handed the op once op.json exists, and starts on it (its first step,
      // a build, changes nothing on the host) while op.json is made durable here; op.start
      // is answered after that (~0.8 ms that were on a switch's path). A power cut before
      // then leaves no record, and the controller had no answer. An op whose activation
      // restarts the agent must not end it before the controller heard that the op started.
      writeOpInfo(stateDir, info, { durable: false });
      m.recorded(req.op);
      void handOffOrSpawn(m, m.handOff, info);
      try {
        syncOpInfo(stateDir, req.op);
      } catch (err) {
        throw notDurable(stateDir, info, err);
      }
      return { op: info, existing: false };
    }
    writeOpInfo(stateDir, info);
    m.recorded(req.op);
    m.accepted(info, spawnCold(config, req.op));
    return { op: info, existing: false };
  } catch (err) {
    if (err instanceof NotDurableError) throw err.refusal;
    m.withdrawAhead?.(req.op);
    if (acts && readLock(stateDir)?.op === req.op && !readWorker(stateDir, req.op)) {
      releaseLock(stateDir, req.op);
    }
    throw err;
  }
}

/** op.json reached the disk's cache but not the disk: the op (handed to its worker) is cancelled. */
class NotDurableError extends Error {
  constructor(readonly refusal: OpRequestError) {
    super(refusal.message);
  }
}

/**
 * The op's record could not be made durable after its worker was handed the op: ask it to
 * stop (it sees the request once it records itself, before its first step that changes the
 * host) and refuse the op. The lock is the worker's to release as it ends the op cancelled.
 */
function notDurable(stateDir: string, info: OpInfo, err: unknown): NotDurableError {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  try {
    requestCancel(stateDir, info.id);
    signalWorker(stateDir, info.id, 'SIGTERM');
  } catch {
    /* the same disk refused this too: the worker's own records fail the op */
  }
  return new NotDurableError(
    new OpRequestError('failed', `${info.kind} ${info.id} was cancelled before it changed anything: its record ${opInfoFile(stateDir, info.id)} cannot be written to disk (${code}); check the disk, then retry with a new op id`),
  );
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => JSON.stringify(k) + ':' + canonical(o[k]))
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function sameRequest(known: OpInfo, req: StartRequest): OpInfo {
  if (known.kind !== req.kind || canonical(known.params) !== canonical(req.params)) {
    throw new OpRequestError(
      'conflict',
      `op id ${req.op} was already used for ${known.kind} ${canonical(known.params)}; choose a new op id for a different operation`,
    );
  }
  return known;
}

/**
 * A worker writes its op's final record, then its audit record, then releases the lock:
 * a controller that saw op.end and starts its next op at once (a deploy's build, then
 * its switch) must not be told "busy" by that op. Waits (without blocking the event loop)
 * while the lock's holder is an op already recorded as ended, at most 2 s.
 */
async function lockSettled(stateDir: string): Promise<void> {
  const until = Date.now() + 2000;
  for (;;) {
    const holder = readLock(stateDir);
    if (!holder || !holderAlive(holder) || Date.now() > until) return;
    let ended = false;
    try {
      const info = readOpInfo(stateDir, holder.op);
      ended = info !== undefined && FINAL_OP_STATES.includes(info.state);
    } catch {
      return;
    }
    if (!ended) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The op.json another process is writing, or undefined when it never came (its creator
 * died). Waits without blocking the event loop: other clients are served meanwhile.
 */
async function waitForInfo(stateDir: string, opId: string): Promise<OpInfo | undefined> {
  const until = performance.now() + 2000;
  for (;;) {
    const info = readOpInfo(stateDir, opId);
    if (info) return info;
    if (performance.now() > until) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Move a half-created op directory aside with one rename, so that of several processes
 * retrying the same id only one clears it (the others see ENOENT and start over).
 */
function clearAbandoned(stateDir: string, opId: string): void {
  const aside = path.join(path.dirname(opDir(stateDir, opId)), `.abandoned-${opId}-${process.pid}-${Date.now()}`);
  try {
    renameSync(opDir(stateDir, opId), aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  rmSync(aside, { recursive: true, force: true });
}
