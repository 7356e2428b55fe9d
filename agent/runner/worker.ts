// The op worker: `nixfleet-agent run-op --state-dir X --op ID`. One process per op, in
// its own session, so it outlives the agent (force-rebuild restarts the agent mid-op).
// It owns the op's journal and op.json, and holds the host lock for ops that act on the host.
import { existsSync } from 'node:fs';
import { FINAL_OP_STATES, formatArgv, type ClientIdentity, type OpInfo, type OpResult, type OpStateName } from '../../protocol';
import { AGENT_VERSION } from '../version';
import { CommandError, runCommand } from '../exec';
import { actsOnHost, OpError, type OpContext, type OpDefinition, type NixInfo } from '../ops/types';
import { executeOp, firstCommandOf, registry, requireOp } from '../ops/registry';
import { detectNix } from '../nix/info';
import { configuredSshCommand, knownToolEnv, remoteToolEnv } from '../git/env';
import { JournalWriter } from '../journal/writer';
import { confirmFile, finishedFile, journalFile } from '../journal/paths';
import { CREATE_NEW, writeNoFollowSync } from '../state/noFollow';
import { readOpInfo, writeOpInfo } from '../journal/opStore';
import { auditOp } from '../journal/audit';
import { BusyError, claimLock, releaseLock } from './lock';
import { readRequest, writeWorker, type OpRequest } from './request';
import { selfIdentity } from './process';
import { cancelRequested } from './control';
import { clearActivation, readActivation } from '../state/activation';
import { rehearseWorker } from './warmUp';
import { dropHeadStart, HeadStart } from './headStart';
import { metadataPath, readMetadataCached, syncMetadata } from '../state/metadata';

// For the standby, which loads this module (and all an op runs) through one dynamic import.
export { rehearseSpawns } from './warmUp';

interface Outcome {
  state: OpStateName;
  result: OpResult;
  error?: string;
}

/**
 * What a standby worker does before it has an op (standbyProcess.ts): this module and the
 * op code are loaded by importing it; the Nix version, git's core.sshCommand in the
 * checkout its ops build (`ahead.flake`) and the state directory's metadata are asked and
 * read now, and again at the op when what they depend on changed meanwhile (nix/info.ts,
 * git/configKey.ts, state/metadata.ts). What cannot be asked or read is reported by the op
 * itself, as in a cold worker. Then a worker's steps around an op's commands are rehearsed
 * on scratch files under `scratchDir` (warmUp.ts).
 */
export async function preloadWorker(scratchDir: string, ahead: { stateDir: string; flake?: string }): Promise<void> {
  await Promise.all([detectNix().catch(() => {}), ahead.flake !== undefined ? configuredSshCommand(ahead.flake) : undefined]);
  await rehearseWorker(scratchDir);
  // After the rehearsal, whose own metadata file would take the cache's place.
  try {
    readMetadataCached(ahead.stateDir);
  } catch {
    /* the op's validation says what is wrong with it */
  }
}

export interface WorkerOptions {
  /** Runs once worker.json names this process. */
  recorded?: () => void;
  /** The op's first command as its standby started it when told of the op (startFirstCommand). */
  ahead?: Promise<HeadStart | undefined>;
}

/** Run op `opId` to completion; resolves with the process exit code. */
export async function runWorker(stateDir: string, opId: string, opts: WorkerOptions = {}): Promise<number> {
  const req = readRequest(stateDir, opId);
  const initial = readOpInfo(stateDir, opId);
  if (!initial) throw new Error(`op ${opId} has no op.json under ${stateDir}; it was never accepted`);
  if (FINAL_OP_STATES.includes(initial.state)) return initial.state === 'succeeded' ? 0 : 1;
  // Every program the op runs must not prompt either: nix fetching a git+ssh flake input
  // during a build or self-update, the rebuild tools, nh. (The agent's own git calls set
  // the same in agent/git/env.ts.) A standby asked git ahead and only checks nothing changed
  // since; a cold worker asks git while the op sets up. Every command the op runs waits for
  // the answer (makeContext's run).
  const toolEnv = useToolEnv(req.config.flake);

  const journal = JournalWriter.open(journalFile(stateDir, opId));
  const abort = new AbortController();
  const onSignal = () => {
    if (!abort.signal.aborted) journal.append('info', `cancel requested: stopping ${req.kind} ${opId}`);
    abort.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // The agent's terminal may vanish; the worker must not die with it.
  process.on('SIGHUP', () => {});
  // The op's first command (a build) starts before anything else of this worker's, and runs
  // while the rest below is made ready. Not when the op was cancelled already.
  const started = await opts.ahead;
  const ahead = cancelRequested(stateDir, opId) ? await dropHeadStart(started) : await startAhead(req, toolEnv, abort.signal, started);
  const me = selfIdentity();
  writeWorker(stateDir, opId, { pid: me.pid, startTime: me.startTime, unit: process.env.NIXFLEET_OP_UNIT });
  opts.recorded?.();
  // Cancelled before this process ran it (op.start is answered before a standby claims the
  // op, so op.cancel can come first): the op runs nothing (a build started ahead is
  // stopped). Read after the handler is in place and worker.json names this process: a
  // cancel from now on signals it.
  const cancelledEarly = cancelRequested(stateDir, opId);
  if (cancelledEarly) abort.abort();
  // Asked beside the op's set-up (nothing below depends on it until the op's first
  // step); a failure surfaces where the op needs the answer.
  const nixInfo = detectNix();
  nixInfo.catch(() => {});

  let def: OpDefinition | undefined;
  let outcome: Outcome;
  let lockHeld = false;
  try {
    def = requireOp(req.kind, req.config.host);
    if (actsOnHost(def)) {
      claimLock(stateDir, opId, req.kind, initial.startedAt);
      lockHeld = true;
    }
    if (cancelledEarly) {
      journal.append('info', `cancel requested before ${req.kind} ${opId} started: nothing ran`);
      throw abort.signal.reason; // ends the op as any cancelled one (failure() below)
    }
    const where = process.env.NIXFLEET_OP_UNIT ? `, in systemd unit ${process.env.NIXFLEET_OP_UNIT}` : '';
    journal.append('info', `${req.kind} ${opId} on ${req.config.host} started by ${describeClient(req.client)} (agent ${AGENT_VERSION}${where})`);
    const nix = await nixInfo;
    const ctx = makeContext(req, opId, journal, nix, abort.signal, toolEnv, ahead);
    let result = await executeOp(req.kind, ctx, req.params);
    if (req.magicRollback) result = await awaitConfirmation(ctx, req, stateDir, opId, initial, result);
    outcome = { state: 'succeeded', result: { ...result } };
  } catch (err) {
    outcome = failure(err, req, abort.signal.aborted);
  }
  // Started ahead but not run by the op (refused, cancelled, another path): gone before the op ends.
  await ahead?.discard();
  // What the op recorded (a revision, a check outcome; state/metadata.ts) is made durable
  // before its end is: once at the end rather than at each record.
  try {
    syncMetadata();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    outcome = { ...outcome, state: 'failed', error: `host ${req.config.host}: what ${req.kind} ${opId} recorded in ${metadataPath(stateDir)} cannot be written to disk (${code}); check the disk, then look at the host's generations` };
  }
  outcome.result.agentVersionBefore ??= AGENT_VERSION;
  journal.append('info', summary(req.kind, opId, req.config.host, outcome));
  journal.close();

  const final: OpInfo = {
    ...initial,
    ...(readOpInfo(stateDir, opId) ?? {}),
    state: outcome.state,
    endedAt: new Date().toISOString(),
    lastSeq: journal.lastSeq,
    exit: outcome.state === 'succeeded' ? 0 : outcome.state === 'cancelled' ? 130 : 1,
    result: outcome.result,
    error: outcome.error,
  };
  delete final.confirmDeadline;
  if (final.error === undefined) delete final.error;
  writeOpInfo(stateDir, final);
  // The op recorded its own end: its activation steps need no recovery any more.
  if (readActivation(stateDir)?.op === opId) clearActivation(stateDir);
  try {
    if (!def || actsOnHost(def)) auditOp(stateDir, final);
  } finally {
    // An audit log that cannot be written (a planted symlink: ELOOP; a full disk) fails the
    // worker loudly, but must not keep the host locked.
    if (lockHeld) releaseLock(stateDir, opId);
    markFinished(stateDir, opId);
  }
  return final.exit!;
}

/**
 * The worker's last word: its final record, its audit record and the host lock's release are
 * done. The agent announces the op's end once it sees this (or the worker gone: runner/watch.ts),
 * so a controller that heard op.end finds the audit record and the host free. Not fsynced: it
 * describes this live process, which a power cut ends anyway.
 */
function markFinished(stateDir: string, opId: string): void {
  try {
    writeNoFollowSync(finishedFile(stateDir, opId), '', CREATE_NEW);
  } catch {
    /* the agent announces the end once this process exited */
  }
}

function describeClient(c: ClientIdentity): string {
  return `${c.name} (${c.auth}${c.address ? ' from ' + c.address : ''})`;
}

/**
 * The op's firstCommand, started now (runner/headStart.ts), or the one its standby started
 * (`started`) when that is the same command; undefined when it has none for this request,
 * or the request is one the op refuses (the op says why, as it would anyway).
 */
async function startAhead(req: OpRequest, toolEnv: Promise<void>, signal: AbortSignal, started?: HeadStart): Promise<HeadStart | undefined> {
  const cmd = firstCommandOf(req);
  if (started && cmd && started.matches(cmd.argv, cmd.opts)) {
    started.follow(signal);
    return started;
  }
  await dropHeadStart(started);
  if (!cmd) return undefined;
  await toolEnv; // its environment is ctx.run's (GIT_SSH_COMMAND)
  return signal.aborted ? undefined : new HeadStart(cmd, signal);
}

/** The environment every program the op runs gets (no prompts: git/env.ts), in this process's own. */
async function useToolEnv(flake: string): Promise<void> {
  Object.assign(process.env, await remoteToolEnv(flake));
}

/**
 * A standby told of the op its agent is accepting (standbyHandoff.ts `ahead`): the op's first
 * command for the agent's config, started now and stopped by `signal`; the op's worker runs
 * it when its own request asks for the same command (startAhead), else stops it.
 */
export async function startFirstCommand(req: Pick<OpRequest, 'kind' | 'params' | 'config'>, signal: AbortSignal): Promise<HeadStart | undefined> {
  const cmd = firstCommandOf(req);
  if (!cmd) return undefined;
  // Started within this call when git need not be asked (the standby asked it ahead).
  const env = knownToolEnv(req.config.flake);
  if (env) Object.assign(process.env, env);
  else await useToolEnv(req.config.flake);
  return signal.aborted ? undefined : new HeadStart(cmd, signal);
}

function makeContext(req: OpRequest, opId: string, journal: JournalWriter, nix: NixInfo, signal: AbortSignal, toolEnv: Promise<void>, ahead?: HeadStart): OpContext {
  let envReady = false;
  void toolEnv.then(() => (envReady = true));
  return {
    config: req.config,
    opId,
    kind: req.kind,
    client: req.client,
    agentVersion: AGENT_VERSION,
    nix,
    signal,
    log: (stream, text) => journal.append(stream, text),
    run: async (argv, opts = {}) => {
      // Once the environment is in place a command starts in this call, before it returns:
      // what the caller does next runs beside it (deploy.ts records a revision while nix-env runs).
      if (!envReady) await toolEnv;
      journal.append('info', `$ ${formatArgv(argv)}`);
      if (ahead?.matches(argv, opts)) return ahead.take((s, t, progress) => journal.append(s, t, progress), opts.signal);
      return runCommand(argv, (s, t, progress) => journal.append(s, t, progress), { ...opts, signal: opts.signal ?? signal });
    },
  };
}

/**
 * Magic rollback: after an activation, wait for the controller's `op.confirm` (a file the
 * agent writes). Without it by the deadline, go back to the generation from before.
 */
async function awaitConfirmation(
  ctx: OpContext,
  req: OpRequest,
  stateDir: string,
  opId: string,
  initial: OpInfo,
  result: OpResult,
): Promise<OpResult> {
  const timeout = req.config.confirmTimeout;
  const before = result.generationBefore;
  const after = result.generationAfter;
  if (timeout === 0 || before === undefined || after === undefined || before === after) return result;
  const deadline = new Date(Date.now() + timeout * 1000);
  // The window is measured on the monotonic clock: a wall clock stepped by NTP (or by
  // hand) must neither cut it short (forward: a rollback the controller had no time to
  // prevent) nor stretch it (backward: a host cut off for hours). The ISO deadline is for
  // clients to show.
  const until = performance.now() + timeout * 1000;
  writeOpInfo(stateDir, { ...(readOpInfo(stateDir, opId) ?? initial), confirmDeadline: deadline.toISOString() });
  ctx.log('info', `waiting for the controller to confirm generation ${after} by ${deadline.toISOString()} (magic rollback)`);
  while (performance.now() < until) {
    if (existsSync(confirmFile(stateDir, opId))) {
      ctx.log('info', `generation ${after} confirmed`);
      return result;
    }
    if (ctx.signal.aborted) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const reason = `no confirmation within ${timeout} s`;
  ctx.log('info', `${reason}: rolling back to generation ${before}`);
  // The rollback op's own step, inside this op: same journal, same lock, no second record.
  const back = await registry.rollback.run(ctx, { to: before, confirmOld: true });
  throw new OpError(`rolled back automatically: ${reason}; host ${req.config.host} is back on generation ${before}`, {
    ...result,
    generationAfter: back.generationAfter ?? before,
    generationFailed: after,
    rolledBack: true,
    message: `rolled back automatically: ${reason}`,
  });
}

function failure(err: unknown, req: OpRequest, aborted: boolean): Outcome {
  if (err instanceof BusyError) return { state: 'failed', result: {}, error: err.message };
  if (aborted) {
    return { state: 'cancelled', result: err instanceof OpError ? { ...(err.result ?? {}) } : {}, error: `${req.kind} was cancelled on host ${req.config.host}` };
  }
  if (err instanceof OpError) return { state: 'failed', result: { ...(err.result ?? {}) }, error: err.message };
  if (err instanceof CommandError) {
    return { state: 'failed', result: {}, error: `${req.kind} failed on host ${req.config.host}: ${err.message}; see the op's log for the full output` };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { state: 'failed', result: {}, error: `${req.kind} failed on host ${req.config.host}: ${message}` };
}

function summary(kind: string, opId: string, host: string, o: Outcome): string {
  const gens =
    o.result.generationBefore !== undefined || o.result.generationAfter !== undefined
      ? ` (generation ${o.result.generationBefore ?? '?'} → ${o.result.generationAfter ?? '?'})`
      : '';
  return o.state === 'succeeded' ? `${kind} ${opId} on ${host} succeeded${gens}` : `${kind} ${opId} on ${host} ${o.state}${gens}: ${o.error}`;
}
