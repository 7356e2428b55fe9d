// A worker that is gone without writing its op's end: put the host's record right if it
// died between setting the profile and activating (recovery.ts), then record the op as
// interrupted (or cancelled), saying what was found and done, release the lock, audit it.
import { FINAL_OP_STATES, type OpInfo } from '../../protocol';
import type { AgentConfig } from '../config';
import { AGENT_VERSION } from '../version';
import { readOpInfo, writeOpInfo } from '../journal/opStore';
import { journalFile } from '../journal/paths';
import { auditOp } from '../journal/audit';
import { lastSeqOf } from '../journal/reader';
import { JournalWriter } from '../journal/writer';
import { getOp } from '../ops/registry';
import { actsOnHost } from '../ops/types';
import { cancelRequested } from './control';
import { readLock, releaseLock } from './lock';
import { recoverActivation } from './recovery';
import { readWorker } from './request';
import { POLL_MS } from './watch';

/** How long to wait for another process that claimed a dead op's recovery (it may run nix-env under the profile lock). */
const RECOVERY_WAIT_MS = 180_000;

/**
 * The op's end: `recorded` when this process wrote it, `theirs` when another process (a CLI
 * following the op, another agent) did meanwhile and this one only has to observe it.
 */
export type DeadWorkerEnd = { recorded: OpInfo } | { theirs: OpInfo };

export async function recordDeadWorker(config: AgentConfig, info: OpInfo): Promise<DeadWorkerEnd> {
  const { stateDir, host } = config;
  const cancelled = cancelRequested(stateDir, info.id);
  const worker = readWorker(stateDir, info.id);
  const who = worker ? `its worker process (pid ${worker.pid})` : 'its worker process';
  const def = getOp(info.kind);
  // An op this agent does not know is treated as one that acts on the host.
  const acts = def ? actsOnHost(def) : true;
  // Before the lock is released: no other op may change the profile meanwhile.
  const found = acts ? await recoverActivation(config, info.id).catch((err: Error) => ({ sentence: `the host's activation record could not be checked (${err.message}); check the host with "nixfleet-agent status"`, lines: [], result: {} })) : undefined;
  if (found === 'elsewhere') {
    // Another process is putting the host right and will record the end: wait for it
    // rather than record a lesser one.
    const theirs = await waitForFinal(stateDir, info.id, RECOVERY_WAIT_MS);
    if (theirs) return { theirs };
  }
  const recovery = found === 'elsewhere' ? undefined : found;
  const next = recovery ? recovery.sentence : 'check the host with "nixfleet-agent status" and run the op again if needed';
  const error = cancelled
    ? `${info.kind} was cancelled on host ${host}; ${who} was killed before it could finish${recovery ? `; ${recovery.sentence}` : ''}`
    : `${info.kind} was interrupted on host ${host}: ${who} ended without recording a result (killed or the machine restarted); ${next}`;
  let lastSeq = info.lastSeq;
  try {
    // Opening the journal also cuts off a line torn by the kill.
    const journal = JournalWriter.open(journalFile(stateDir, info.id));
    for (const line of recovery?.lines ?? []) journal.append('info', line);
    journal.append('info', error);
    journal.close();
    lastSeq = journal.lastSeq;
  } catch {
    lastSeq = Math.max(lastSeq, lastSeqOf(journalFile(stateDir, info.id)));
  }
  const final: OpInfo = {
    ...info,
    state: cancelled ? 'cancelled' : 'interrupted',
    endedAt: new Date().toISOString(),
    lastSeq,
    exit: cancelled ? 130 : 1,
    error,
    result: { ...(info.result ?? {}), ...(recovery ? { ...definedOnly(recovery.result), message: recovery.sentence } : {}), agentVersionAfter: AGENT_VERSION },
  };
  delete final.confirmDeadline;
  // Another process noticing the same dead worker may have recorded the end first.
  const meanwhile = readOpInfo(stateDir, info.id);
  if (meanwhile && FINAL_OP_STATES.includes(meanwhile.state)) return { theirs: meanwhile };
  writeOpInfo(stateDir, final);
  if (readLock(stateDir)?.op === info.id) releaseLock(stateDir, info.id);
  try {
    if (acts) auditOp(stateDir, final);
  } catch (err) {
    process.stderr.write(`nixfleet-agent: cannot append op ${info.id} to the audit log in ${stateDir} (${(err as Error).message}); if audit.jsonl is a symlink, remove it\n`);
  }
  return { recorded: final };
}

/** The final record of `opId` once another process wrote it, or undefined after `ms`. */
async function waitForFinal(stateDir: string, opId: string, ms: number): Promise<OpInfo | undefined> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const info = readOpInfo(stateDir, opId);
    if (info && FINAL_OP_STATES.includes(info.state)) return info;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return undefined;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
