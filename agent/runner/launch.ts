// Starting an accepted op's worker: the serving agent's standby worker when it takes the op
// (after op.start was answered), else a worker started cold. Whatever happens, the op's
// record ends up telling the truth: a worker that could not start ends it failed.
import type { OpInfo } from '../../protocol';
import type { AgentConfig } from '../config';
import { auditOp } from '../journal/audit';
import { writeOpInfo } from '../journal/opStore';
import { journalFile } from '../journal/paths';
import { JournalWriter } from '../journal/writer';
import { releaseLock } from './lock';
import { readWorker, writeWorker } from './request';
import { spawnWorker, type SpawnedWorker } from './spawn';

/** What launching needs from the op manager. */
export interface LaunchHost {
  readonly config: AgentConfig;
  /** Its worker was started (or handed the op): say so, and notice that process's exit. */
  accepted(info: OpInfo, worker: SpawnedWorker): void;
  /**
   * Give the op to a standby worker: its worker once it claimed the op, undefined to start one
   * cold. Throws only when it cannot tell whether the standby claimed it.
   */
  handOff?(opId: string): Promise<SpawnedWorker | undefined>;
}

/** Start op `opId`'s worker now (the CLI, an agent without a standby); throws when it cannot start. */
export function spawnCold(config: AgentConfig, opId: string): SpawnedWorker {
  const spawned = spawnWorker(config.stateDir, opId, config.workerLauncher, (text) => launcherNotice(config.stateDir, opId, text));
  noteWorker(config, opId, spawned);
  return spawned;
}

/** worker.json names the process at once (the worker writes it too, when it starts). */
function noteWorker(config: AgentConfig, opId: string, spawned: SpawnedWorker): void {
  try {
    if (spawned.pid !== undefined && !readWorker(config.stateDir, opId)) writeWorker(config.stateDir, opId, { pid: spawned.pid });
  } catch {
    /* the worker records itself */
  }
}

/**
 * After op.start was answered: the serving agent's standby worker when it takes the op, else
 * a worker started cold. Never rejects: a worker that cannot be started ends the op as
 * failed (nothing ran), and a handoff whose outcome cannot be told starts no second worker
 * (the op's watch tells, from worker.json, whether the standby runs it).
 */
export async function handOffOrSpawn(m: LaunchHost, handOff: NonNullable<LaunchHost['handOff']>, info: OpInfo): Promise<void> {
  let spawned: SpawnedWorker | undefined;
  try {
    spawned = await handOff(info.id);
  } catch {
    // Whether the standby claimed it cannot be told: its worker.json will say, else the
    // watch records the op interrupted once no worker recorded itself.
    m.accepted(info, {});
    return;
  }
  if (!spawned) return startCold(m, info);
  noteWorker(m.config, info.id, spawned);
  m.accepted(info, spawned);
}

/** Start an accepted op's worker cold; one that cannot start ends the op failed (nothing ran). Never throws. */
export function startCold(m: LaunchHost, info: OpInfo): void {
  let spawned: SpawnedWorker;
  try {
    spawned = spawnCold(m.config, info.id);
  } catch (err) {
    try {
      recordNotStarted(m.config, info, err); // its watch (since recorded) reports the end
    } catch {
      /* the state directory refused the record too: the watch records the op interrupted */
    }
    return;
  }
  m.accepted(info, spawned);
}

/** The op's end when its worker could not be started at all: failed, nothing ran, the host lock free again. */
function recordNotStarted(config: AgentConfig, info: OpInfo, err: unknown): void {
  const error = `${info.kind} did not start on host ${config.host}: its worker process could not be started (${(err as Error).message}); check the agent's log, then retry; nothing ran`;
  try {
    const lastSeq = launcherNotice(config.stateDir, info.id, error);
    const final: OpInfo = { ...info, state: 'failed', endedAt: new Date().toISOString(), lastSeq: lastSeq ?? info.lastSeq, exit: 1, result: {}, error };
    writeOpInfo(config.stateDir, final);
    auditOp(config.stateDir, final);
  } finally {
    releaseLock(config.stateDir, info.id);
  }
}

/**
 * Why the worker was not started the configured way: in the agent's log and in the op's
 * journal (written before the worker opens it), so whoever follows the op sees it too.
 * Returns the journal's last line number (undefined when it could not be written).
 */
function launcherNotice(stateDir: string, opId: string, text: string): number | undefined {
  process.stderr.write(`nixfleet-agent: ${text}\n`);
  try {
    const journal = JournalWriter.open(journalFile(stateDir, opId));
    journal.append('info', text);
    journal.close();
    return journal.lastSeq;
  } catch {
    return undefined; // the agent's log has it
  }
}

