// The audit log: one JSON line when an op starts and one when it ended, and one per
// refused attempt (a 401/403 upgrade, an op.start refused as busy/unauthorized/conflict/
// invalid; see agent/server/refusalLog.ts for the rate limit), appended with O_APPEND so
// concurrent writers (agent and CLI) never interleave within a line.
import { readFileSync } from 'node:fs';
import { APPEND, writeNoFollowSync } from '../state/noFollow';
import type { ClientIdentity, OpInfo, OpKind, OpStateName } from '../../protocol';
import { auditFile } from './paths';

export interface AuditRecord {
  time: string;
  op: string;
  kind: OpKind;
  client: ClientIdentity;
  params: Record<string, unknown>;
  startedAt: string;
  endedAt?: string;
  outcome: OpStateName;
  generationBefore?: number;
  generationAfter?: number;
  revision?: string;
  error?: string;
  agentVersion: string;
  agentVersionBefore?: string;
  agentVersionAfter?: string;
  /**
   * Set on the second record of an op that restarts the agent (force-rebuild, self-update):
   * written by the agent that saw the op end, with the version running after it and the
   * final outcome (self-update --verify can turn a success into a failure there).
   */
  observed?: true;
}

/**
 * A refused attempt: who (client identity, or the peer address for a refused upgrade),
 * what was asked, when, and why it was refused. Marked `event: "refused"`; op records
 * have no `event` key.
 */
export interface RefusalRecord {
  event: 'refused';
  time: string;
  /** Rate-limit key: the peer's IP address (no port), `stdio:<user>` or `cli:<user>`. */
  source: string;
  client: ClientIdentity;
  /** What was asked: `upgrade` (the WebSocket handshake) or the request type. */
  request: string;
  op?: string;
  kind?: string;
  /** The params as sent, as JSON cut to 512 characters. */
  params?: string;
  /** `token:<prefix>` of a bearer token that matched no token in the file. */
  presented?: string;
  /** HTTP status (upgrade) or protocol error code. */
  code: string;
  reason: string;
}

/**
 * An op accepted to run, written before its worker starts: who asked what, so the log
 * holds the op even when the machine dies before it ends. Marked `event: "started"`.
 */
export interface StartRecord {
  event: 'started';
  time: string;
  op: string;
  kind: OpKind;
  client: ClientIdentity;
  params: Record<string, unknown>;
  agentVersion: string;
}

/** Refusals left out by the rate limit during one window, written when the window closes. */
export interface RefusalSummaryRecord {
  event: 'refused-summary';
  time: string;
  from: string;
  to: string;
  /** Refusals not written as records in this window. */
  suppressed: number;
  /** Suppressed count per source (the 20 largest). */
  bySource: Record<string, number>;
  /** Sources beyond those 20, and their total. */
  otherSources?: { sources: number; refusals: number };
  /** Refusals from sources beyond the 1000 the limiter tells apart in one window. */
  untracked?: number;
  byCode: Record<string, number>;
}

export type AuditLogRecord = AuditRecord | StartRecord | RefusalRecord | RefusalSummaryRecord;

export function appendAudit(stateDir: string, record: AuditLogRecord): void {
  // One write(2) with O_APPEND: whole lines; O_NOFOLLOW: never into a planted symlink's target.
  writeNoFollowSync(auditFile(stateDir), JSON.stringify(record) + '\n', APPEND);
}

/** The records of ops that ended (no starts, no refusals), oldest first (a torn final line is ignored). */
export function readAudit(stateDir: string): AuditRecord[] {
  return readAuditLog(stateDir).filter((r): r is AuditRecord => !('event' in r));
}

/** The op start records, oldest first. */
export function readStarts(stateDir: string): StartRecord[] {
  return readAuditLog(stateDir).filter((r): r is StartRecord => 'event' in r && r.event === 'started');
}

/** Refusal and refusal-summary records, oldest first. */
export function readRefusals(stateDir: string): (RefusalRecord | RefusalSummaryRecord)[] {
  return readAuditLog(stateDir).filter((r): r is RefusalRecord | RefusalSummaryRecord => 'event' in r && (r.event === 'refused' || r.event === 'refused-summary'));
}

/** Every complete record of the audit log, oldest first (a torn final line is ignored). */
export function readAuditLog(stateDir: string): AuditLogRecord[] {
  let text: string;
  try {
    text = readFileSync(auditFile(stateDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const lines = text.split('\n');
  lines.pop(); // the part after the last newline is empty or torn
  const out: AuditLogRecord[] = [];
  for (const l of lines) {
    try {
      out.push(JSON.parse(l) as AuditLogRecord);
    } catch {
      /* a line torn by a crash and followed by newer records */
    }
  }
  return out;
}

/** The audit record of an op accepted to run. */
export function auditStart(stateDir: string, info: OpInfo): void {
  appendAudit(stateDir, {
    event: 'started',
    time: new Date().toISOString(),
    op: info.id,
    kind: info.kind,
    client: info.client,
    params: info.params,
    agentVersion: info.agentVersion,
  });
}

/** The audit record of an op that ended (`observed`: the after-restart record, see AuditRecord). */
export function auditOp(stateDir: string, info: OpInfo, observed = false): void {
  appendAudit(stateDir, {
    ...(observed ? { observed: true as const } : {}),
    time: new Date().toISOString(),
    op: info.id,
    kind: info.kind,
    client: info.client,
    params: info.params,
    startedAt: info.startedAt,
    endedAt: info.endedAt,
    outcome: info.state,
    generationBefore: info.result?.generationBefore,
    generationAfter: info.result?.generationAfter,
    revision: info.result?.revision,
    error: info.error,
    agentVersion: info.agentVersion,
    agentVersionBefore: info.result?.agentVersionBefore,
    agentVersionAfter: info.result?.agentVersionAfter,
  });
}
