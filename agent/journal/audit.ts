// The audit log: one JSON line per mutating op that ended, appended with O_APPEND so
// concurrent writers (agent and CLI) never interleave within a line.
import { appendFileSync, readFileSync } from 'node:fs';
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

export function appendAudit(stateDir: string, record: AuditRecord): void {
  appendFileSync(auditFile(stateDir), JSON.stringify(record) + '\n', { mode: 0o600 });
}

/** Every complete audit record, oldest first (a torn final line is ignored). */
export function readAudit(stateDir: string): AuditRecord[] {
  let text: string;
  try {
    text = readFileSync(auditFile(stateDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const lines = text.split('\n');
  lines.pop(); // the part after the last newline is empty or torn
  const out: AuditRecord[] = [];
  for (const l of lines) {
    try {
      out.push(JSON.parse(l) as AuditRecord);
    } catch {
      /* a line torn by a crash and followed by newer records */
    }
  }
  return out;
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
