// The deploy audit log: one JSON object per line, appended, never rewritten. Each entry
// carries the whole deploy record as it was at that moment, so the last entry of a deploy
// is enough to roll its hosts back after a VS Code restart.
import { appendFileSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync } from 'node:fs';
import { userInfo, hostname } from 'node:os';
import path from 'node:path';
import type { DeployRecord } from './types';

export type AuditEvent = 'deploy.start' | 'deploy.end' | 'revert' | 'rollback.start' | 'rollback.end' | 'wave.end' | 'deploy.resume';

export interface AuditEntry {
  at: string;
  event: AuditEvent;
  who: string;
  deploy: string;
  commit: string;
  pr?: number;
  /** Per host: generation before and after, outcome, error: readable without the record. */
  hosts: { host: string; from?: number; to?: number; outcome: string; error?: string }[];
  state: DeployRecord['state'];
  detail?: string;
  record: DeployRecord;
}

/** "alice@laptop": who ran a deploy when no GitHub login is known. */
export function localUser(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    user = process.env.USER ?? process.env.USERNAME ?? 'unknown';
  }
  return `${user}@${hostname()}`;
}

function endsTorn(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    if (size === 0) return false;
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, size - 1);
    return b[0] !== 0x0a;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export class AuditLog {
  constructor(readonly file: string) {
    if (!path.isAbsolute(file)) throw new Error(`the deploy audit log path must be absolute, not "${file}"`);
  }

  append(event: AuditEvent, who: string, record: DeployRecord, detail?: string): AuditEntry {
    const entry: AuditEntry = {
      at: new Date().toISOString(),
      event,
      who,
      deploy: record.id,
      commit: record.target.commit,
      ...(record.target.pr ? { pr: record.target.pr.number } : {}),
      hosts: record.hosts.map((h) => ({
        host: h.host,
        from: h.generationBefore,
        to: h.rollback?.outcome === 'rolled-back' || h.rollback?.outcome === 'unchanged' ? h.rollback.to : h.generationAfter,
        outcome: h.outcome,
        ...(h.error ? { error: h.error } : {}),
      })),
      state: record.state,
      ...(detail ? { detail } : {}),
      record,
    };
    mkdirSync(path.dirname(this.file), { recursive: true });
    // A crash mid-write leaves a line without its newline: start on a fresh line so this
    // entry is not glued to (and lost with) the torn one.
    const lead = endsTorn(this.file) ? '\n' : '';
    // One write per line with O_APPEND: concurrent writers (two windows) never interleave a line.
    appendFileSync(this.file, lead + JSON.stringify(entry) + '\n', { mode: 0o600 });
    return entry;
  }

  /** Every entry, oldest first. A torn last line (a crash mid-write) is skipped. */
  entries(): AuditEntry[] {
    if (!existsSync(this.file)) return [];
    const out: AuditEntry[] = [];
    for (const line of readFileSync(this.file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const e = JSON.parse(line) as AuditEntry;
        if (e && typeof e.deploy === 'string' && e.record && Array.isArray(e.record.hosts)) out.push(e);
      } catch {
        /* torn or foreign line */
      }
    }
    return out;
  }

  /** The latest state of each deploy, newest first. */
  deploys(): DeployRecord[] {
    const latest = new Map<string, DeployRecord>();
    for (const e of this.entries()) {
      latest.delete(e.deploy);
      latest.set(e.deploy, e.record);
    }
    return [...latest.values()].reverse();
  }

  lastDeploy(): DeployRecord | undefined {
    return this.deploys()[0];
  }
}
