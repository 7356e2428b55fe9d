// Runs ops for the agent and the CLI alike: accepts a start (idempotent by op id),
// takes the host lock for ops that act on the host (actsOnHost), spawns the worker, watches it until it ends,
// cancels it, and on start-up re-attaches to workers that outlived a previous agent
// (or marks their ops interrupted when they did not).
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, renameSync, rmSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { FINAL_OP_STATES, type ClientIdentity, type ErrorCode, type OpInfo, type OpKind } from '../../protocol';
import type { AgentConfig } from '../config';
import { AGENT_VERSION } from '../version';
import { actsOnHost, describeEffects, type OpDefinition } from '../ops/types';
import { createOpDir, listOpIds, listOps, readOpInfo, writeOpInfo } from '../journal/opStore';
import { confirmFile, journalFile, opDir, opsDir } from '../journal/paths';
import { auditOp, auditStart } from '../journal/audit';
import { lastSeqOf } from '../journal/reader';
import { JournalWriter } from '../journal/writer';
import { FileWatcher } from '../journal/watcher';
import { acquireLock, BusyError, holderAlive, readLock, releaseLock } from './lock';
import { processRunning } from './process';
import { readWorker, writeRequest, writeWorker } from './request';
import { spawnWorker } from './spawn';
import { recoverActivation } from './recovery';
import { APPEND, REPLACE, writeNoFollowSync } from '../state/noFollow';

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

/** How long a cancelled worker gets to stop on SIGTERM before its process group is killed. */
export const CANCEL_GRACE_MS = 10_000;
/** A worker that has not recorded itself this long after its op was accepted never started. */
const WORKER_START_MS = 30_000;
const POLL_MS = 200;
/** How long to wait for another process that claimed a dead op's recovery (it may run nix-env under the profile lock). */
const RECOVERY_WAIT_MS = 180_000;

/** Ops whose activation may restart the agent: the agent that sees their end audits it again. */
const AGENT_RESTARTING_KINDS: readonly OpKind[] = ['force-rebuild', 'self-update'];

const cancelFile = (stateDir: string, opId: string) => path.join(opDir(stateDir, opId), 'cancel-requested');

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

interface Watched {
  timer: NodeJS.Timeout;
  cancelTimer?: NodeJS.Timeout;
  /** performance.now() when watching began: the worker's start grace is monotonic time, not wall-clock. */
  since: number;
  /** The confirmDeadline last announced with an op.state event (magic rollback). */
  confirmDeadline?: string;
}

export interface OpManagerEvents {
  state: [OpInfo];
  end: [OpInfo];
}

export class OpManager extends EventEmitter<OpManagerEvents> {
  readonly stateDir: string;
  private readonly running = new Map<string, Watched>();
  private readonly journals = new Map<string, { watcher: FileWatcher; listeners: Set<() => void> }>();
  private closed = false;
  /** Op ids this manager has seen, to notice ops started by other processes (the CLI). */
  private readonly known = new Set<string>();
  /** Ops whose dead worker this process is recording (recovery may run nix-env meanwhile). */
  private readonly dying = new Set<string>();
  private scanner: { watcher?: FSWatcher; timer: NodeJS.Timeout } | undefined;

  constructor(readonly config: AgentConfig) {
    super();
    this.stateDir = config.stateDir;
  }

  /** Re-attach to ops still running; finish the record of ops that ended while no agent watched. */
  recover(): void {
    for (const id of listOpIds(this.stateDir)) {
      this.known.add(id);
      let info: OpInfo | undefined;
      try {
        info = readOpInfo(this.stateDir, id);
      } catch {
        continue;
      }
      if (!info) continue;
      if (info.state === 'running') this.watch(id);
      else if (info.result?.agentVersionAfter === undefined) this.observeEnd(info);
    }
  }

  /**
   * The op's definition. The registry (and with it execa, simple-git and every op's
   * code) is loaded on first use: an agent that only serves reads stays small.
   */
  async definition(kind: OpKind): Promise<OpDefinition> {
    const { getOp } = await import('../ops/registry');
    const def = getOp(kind) as OpDefinition | undefined;
    if (!def) throw new OpRequestError('failed', `op kind "${kind}" is not available on agent ${AGENT_VERSION} of host ${this.config.host}; update the agent`);
    return def;
  }

  /** Accept an op: returns the existing op when the id is known (nothing new runs). */
  async start(req: StartRequest, opts: { authenticated: boolean }): Promise<{ op: OpInfo; existing: boolean }> {
    const known = this.get(req.op);
    if (known) return { op: this.sameRequest(known, req), existing: true };
    const def = await this.definition(req.kind);
    const acts = actsOnHost(def);
    if (acts && !opts.authenticated) {
      throw new OpRequestError('unauthorized', `${req.kind} ${describeEffects(def)} on host ${this.config.host}, so it needs an authenticated controller: connect with the host's bearer token (or over SSH)`);
    }
    if (acts) await this.lockSettled();
    // Everything below is synchronous, so two starts in this process cannot interleave.
    const again = this.get(req.op);
    if (again) return { op: this.sameRequest(again, req), existing: true };
    const parsed = def.params.safeParse(req.params);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = ['params', ...issue.path.map(String)].join('.');
      const keys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.join(', ')})` : '';
      throw new OpRequestError('invalid', `${where}: ${issue.message}${keys}`);
    }
    const startedAt = new Date().toISOString();
    if (acts) {
      try {
        acquireLock(this.stateDir, req.op, req.kind, startedAt);
      } catch (err) {
        if (err instanceof BusyError) throw new OpRequestError('busy', err.message);
        throw err;
      }
    }
    try {
      try {
        createOpDir(this.stateDir, req.op);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
          // Another process accepted the same id a moment ago.
          if (acts) releaseLock(this.stateDir, req.op);
          const other = await this.waitForInfo(req.op);
          if (other) return { op: this.sameRequest(other, req), existing: true };
          // Its creator died between mkdir and op.json (kill -9): nothing ran, since the
          // worker is spawned only after op.json exists. Clear it and accept the op afresh.
          this.clearAbandoned(req.op);
          return this.start(req, opts);
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
        auditStart(this.stateDir, info);
      } catch (err) {
        this.clearAbandoned(req.op); // the op's claim (its empty directory) goes too: nothing half-done
        throw new OpRequestError('failed', `${req.kind} not started on host ${this.config.host}: its start cannot be recorded in the audit log ${path.join(this.stateDir, 'audit.jsonl')} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); if it is a symlink, remove it, then retry; nothing ran`);
      }
      writeRequest(this.stateDir, req.op, {
        kind: req.kind,
        params: req.params,
        client: req.client,
        config: this.config,
        magicRollback: req.magicRollback,
      });
      writeNoFollowSync(journalFile(this.stateDir, req.op), '', APPEND);
      writeOpInfo(this.stateDir, info);
      this.known.add(req.op);
      const spawned = spawnWorker(this.stateDir, req.op, this.config.workerLauncher, (text) => this.launcherNotice(req.op, text));
      if (spawned.pid !== undefined && !readWorker(this.stateDir, req.op)) {
        writeWorker(this.stateDir, req.op, { pid: spawned.pid });
      }
      this.watch(req.op);
      spawned.exited?.then(() => this.check(req.op));
      this.emit('state', info);
      return { op: info, existing: false };
    } catch (err) {
      if (acts && readLock(this.stateDir)?.op === req.op && !readWorker(this.stateDir, req.op)) {
        releaseLock(this.stateDir, req.op);
      }
      throw err;
    }
  }

  /**
   * A worker writes its op's final record, then its audit record, then releases the lock:
   * a controller that saw op.end and starts its next op at once (a deploy's build, then
   * its switch) must not be told "busy" by that op. Waits (without blocking the event loop)
   * while the lock's holder is an op already recorded as ended, at most 2 s.
   */
  private async lockSettled(): Promise<void> {
    const until = Date.now() + 2000;
    for (;;) {
      const holder = readLock(this.stateDir);
      if (!holder || !holderAlive(holder) || Date.now() > until) return;
      let ended = false;
      try {
        const info = readOpInfo(this.stateDir, holder.op);
        ended = info !== undefined && this.isFinal(info);
      } catch {
        return;
      }
      if (!ended) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Why the worker was not started the configured way: in the agent's log and in the op's
   * journal (written before the worker opens it), so whoever follows the op sees it too.
   */
  private launcherNotice(opId: string, text: string): void {
    process.stderr.write(`nixfleet-agent: ${text}\n`);
    try {
      const journal = JournalWriter.open(journalFile(this.stateDir, opId));
      journal.append('info', text);
      journal.close();
    } catch {
      /* the agent's log has it */
    }
  }

  /**
   * The op.json another process is writing, or undefined when it never came (its creator
   * died). Waits without blocking the event loop: other clients are served meanwhile.
   */
  private async waitForInfo(opId: string): Promise<OpInfo | undefined> {
    const until = performance.now() + 2000;
    for (;;) {
      const info = readOpInfo(this.stateDir, opId);
      if (info) return info;
      if (performance.now() > until) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Move a half-created op directory aside with one rename, so that of several processes
   * retrying the same id only one clears it (the others see ENOENT and start over).
   */
  private clearAbandoned(opId: string): void {
    const aside = path.join(path.dirname(opDir(this.stateDir, opId)), `.abandoned-${opId}-${process.pid}-${Date.now()}`);
    try {
      renameSync(opDir(this.stateDir, opId), aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    rmSync(aside, { recursive: true, force: true });
  }

  private sameRequest(known: OpInfo, req: StartRequest): OpInfo {
    if (known.kind !== req.kind || canonical(known.params) !== canonical(req.params)) {
      throw new OpRequestError(
        'conflict',
        `op id ${req.op} was already used for ${known.kind} ${canonical(known.params)}; choose a new op id for a different operation`,
      );
    }
    return known;
  }

  /** The op's record, with lastSeq read from the journal while it runs. */
  get(opId: string): OpInfo | undefined {
    let info: OpInfo | undefined;
    try {
      info = readOpInfo(this.stateDir, opId);
    } catch (err) {
      throw new OpRequestError('failed', (err as Error).message);
    }
    if (info && info.state === 'running') info = { ...info, lastSeq: Math.max(info.lastSeq, lastSeqOf(journalFile(this.stateDir, opId))) };
    // Ended since the last poll (or while no agent watched): record the end now, so no
    // client is handed a final record without agentVersionAfter.
    else if (info && this.isFinal(info) && info.result?.agentVersionAfter === undefined) info = this.observeEnd(info);
    return info;
  }

  list(limit: number): OpInfo[] {
    return listOps(this.stateDir, limit).map((o) => (o.state === 'running' ? (this.get(o.id) ?? o) : o));
  }

  isFinal(info: OpInfo): boolean {
    return FINAL_OP_STATES.includes(info.state);
  }

  /** Ask a running op to stop: SIGTERM to the worker's process group, SIGKILL after a grace period. */
  cancel(opId: string): OpInfo {
    const info = this.get(opId);
    if (!info) throw new OpRequestError('not-found', `no op ${opId} on host ${this.config.host}`);
    if (this.isFinal(info)) return info;
    writeNoFollowSync(cancelFile(this.stateDir, opId), new Date().toISOString() + '\n', REPLACE);
    const worker = readWorker(this.stateDir, opId);
    if (worker && processRunning(worker.pid, worker.startTime)) {
      signalGroup(worker.pid, 'SIGTERM');
      this.watch(opId);
      const w = this.running.get(opId)!;
      w.cancelTimer ??= setTimeout(() => {
        const again = readWorker(this.stateDir, opId);
        if (again && processRunning(again.pid, again.startTime)) signalGroup(again.pid, 'SIGKILL');
        setTimeout(() => this.check(opId), 100).unref();
      }, CANCEL_GRACE_MS);
      w.cancelTimer.unref();
    } else {
      this.check(opId);
    }
    return this.get(opId) ?? info;
  }

  /** Magic rollback: record the controller's confirmation for the waiting worker. */
  confirm(opId: string): OpInfo {
    const info = this.get(opId);
    if (!info) throw new OpRequestError('not-found', `no op ${opId} on host ${this.config.host}`);
    if (info.state !== 'running' || !info.confirmDeadline) {
      throw new OpRequestError('failed', `op ${opId} is not waiting for a confirmation (state ${info.state})`);
    }
    writeNoFollowSync(confirmFile(this.stateDir, opId), new Date().toISOString() + '\n', REPLACE);
    return info;
  }

  /** Call `listener` whenever the op's journal may have grown. Returns the unsubscribe function. */
  watchJournal(opId: string, listener: () => void): () => void {
    let entry = this.journals.get(opId);
    if (!entry) {
      const listeners = new Set<() => void>();
      const watcher = new FileWatcher(journalFile(this.stateDir, opId), () => {
        for (const l of listeners) l();
      });
      entry = { watcher, listeners };
      this.journals.set(opId, entry);
    }
    entry.listeners.add(listener);
    return () => {
      const e = this.journals.get(opId);
      if (!e) return;
      e.listeners.delete(listener);
      if (!e.listeners.size) {
        e.watcher.close();
        this.journals.delete(opId);
      }
    };
  }

  /**
   * Notice ops that other processes (the CLI, another agent instance) start on this host,
   * so clients get op.state for them and host.status when they end.
   */
  followForeignOps(): void {
    if (this.scanner || this.closed) return;
    mkdirSync(opsDir(this.stateDir), { recursive: true, mode: 0o700 });
    // fs.watch announces a new op directory at once; the timer catches what it misses and
    // ops whose op.json was not written yet when their directory appeared.
    const timer = setInterval(() => this.scanForeign(), 1000);
    timer.unref();
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(opsDir(this.stateDir), { persistent: false }, () => setTimeout(() => this.scanForeign(), 20).unref());
      watcher.on('error', () => watcher?.close());
    } catch {
      watcher = undefined;
    }
    this.scanner = { watcher, timer };
  }

  private scanForeign(): void {
    if (this.closed) return;
    for (const id of listOpIds(this.stateDir)) {
      if (this.known.has(id)) continue;
      let info: OpInfo | undefined;
      try {
        info = readOpInfo(this.stateDir, id);
      } catch {
        continue;
      }
      if (!info) continue; // being created: next scan
      this.known.add(id);
      if (info.state === 'running') {
        this.watch(id);
        this.emit('state', info);
      }
    }
  }

  /** Follow an op this manager did not start (started by the CLI or another agent instance). */
  attach(opId: string): void {
    const info = this.get(opId);
    if (info && info.state === 'running') this.watch(opId);
  }

  private watch(opId: string): void {
    if (this.running.has(opId) || this.dying.has(opId) || this.closed) return;
    const timer = setInterval(() => this.check(opId), POLL_MS);
    timer.unref();
    this.running.set(opId, { timer, since: performance.now() });
    setImmediate(() => this.check(opId));
  }

  private unwatch(opId: string): void {
    const w = this.running.get(opId);
    if (!w) return;
    clearInterval(w.timer);
    if (w.cancelTimer) clearTimeout(w.cancelTimer);
    this.running.delete(opId);
  }

  /** Has the op ended, or has its worker died without saying so? */
  private check(opId: string): void {
    if (!this.running.has(opId)) return;
    let info: OpInfo | undefined;
    try {
      info = readOpInfo(this.stateDir, opId);
    } catch {
      return; // mid-replace on a filesystem without atomic rename: next poll
    }
    if (!info) return;
    if (this.isFinal(info)) {
      this.unwatch(opId);
      this.observeEnd(info);
      return;
    }
    // The worker now waits for op.confirm: say so with op.state, the controller's cue to confirm.
    const watched = this.running.get(opId)!;
    if (info.confirmDeadline && info.confirmDeadline !== watched.confirmDeadline) {
      watched.confirmDeadline = info.confirmDeadline;
      this.emit('state', this.get(opId) ?? info);
    }
    if (this.workerAlive(opId)) return;
    // The worker writes op.json before it exits: read once more to close that window.
    const again = readOpInfo(this.stateDir, opId);
    this.unwatch(opId);
    if (again && this.isFinal(again)) this.observeEnd(again);
    else void this.markDead(again ?? info);
  }

  private workerAlive(opId: string): boolean {
    const worker = readWorker(this.stateDir, opId);
    // Not recorded yet: give it WORKER_START_MS from when this process began watching, on
    // the monotonic clock (a wall clock stepped forward must not declare it dead).
    if (!worker) return performance.now() - (this.running.get(opId)?.since ?? performance.now()) < WORKER_START_MS;
    return processRunning(worker.pid, worker.startTime);
  }

  /**
   * The worker is gone and never wrote an end: put the host's record right if it died
   * between setting the profile and activating (agent/runner/recovery.ts), then record
   * the op as interrupted (or cancelled), saying what was found and done.
   */
  private async markDead(info: OpInfo): Promise<void> {
    // Once per op in this process: a subscriber attaching meanwhile must not start another.
    if (this.dying.has(info.id)) return;
    this.dying.add(info.id);
    try {
      await this.recordDead(info);
    } finally {
      this.dying.delete(info.id);
    }
  }

  /** The final record of `opId` once another process wrote it, or undefined after `ms`. */
  private async waitForFinal(opId: string, ms: number): Promise<OpInfo | undefined> {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      const info = readOpInfo(this.stateDir, opId);
      if (info && this.isFinal(info)) return info;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    return undefined;
  }

  private async recordDead(info: OpInfo): Promise<void> {
    const cancelled = existsSync(cancelFile(this.stateDir, info.id));
    const worker = readWorker(this.stateDir, info.id);
    const who = worker ? `its worker process (pid ${worker.pid})` : 'its worker process';
    const acts = await this.definition(info.kind).then(actsOnHost, () => true);
    // Before the lock is released: no other op may change the profile meanwhile.
    const found = acts ? await recoverActivation(this.config, info.id).catch((err: Error) => ({ sentence: `the host's activation record could not be checked (${err.message}); check the host with "nixfleet-agent status"`, lines: [], result: {} })) : undefined;
    if (found === 'elsewhere') {
      // Another process (a CLI following the op, another agent) is putting the host right
      // and will record the end: wait for it rather than record a lesser one.
      const theirs = await this.waitForFinal(info.id, RECOVERY_WAIT_MS);
      if (theirs) return void this.observeEnd(theirs);
    }
    const recovery = found === 'elsewhere' ? undefined : found;
    const next = recovery ? recovery.sentence : 'check the host with "nixfleet-agent status" and run the op again if needed';
    const error = cancelled
      ? `${info.kind} was cancelled on host ${this.config.host}; ${who} was killed before it could finish${recovery ? `; ${recovery.sentence}` : ''}`
      : `${info.kind} was interrupted on host ${this.config.host}: ${who} ended without recording a result (killed or the machine restarted); ${next}`;
    let lastSeq = info.lastSeq;
    try {
      // Opening the journal also cuts off a line torn by the kill.
      const journal = JournalWriter.open(journalFile(this.stateDir, info.id));
      for (const line of recovery?.lines ?? []) journal.append('info', line);
      journal.append('info', error);
      journal.close();
      lastSeq = journal.lastSeq;
    } catch {
      lastSeq = Math.max(lastSeq, lastSeqOf(journalFile(this.stateDir, info.id)));
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
    const meanwhile = readOpInfo(this.stateDir, info.id);
    if (meanwhile && this.isFinal(meanwhile)) {
      this.observeEnd(meanwhile);
      return;
    }
    writeOpInfo(this.stateDir, final);
    if (readLock(this.stateDir)?.op === info.id) releaseLock(this.stateDir, info.id);
    try {
      if (acts) auditOp(this.stateDir, final);
    } catch (err) {
      process.stderr.write(`nixfleet-agent: cannot append op ${info.id} to the audit log in ${this.stateDir} (${(err as Error).message}); if audit.jsonl is a symlink, remove it\n`);
    }
    this.emit('end', final);
  }

  /** Record which agent version saw the op end (force-rebuild/self-update across restarts). */
  private observeEnd(info: OpInfo): OpInfo {
    let final = info;
    if (info.result?.agentVersionAfter === undefined) {
      final = { ...info, result: { ...(info.result ?? {}), agentVersionAfter: AGENT_VERSION } };
      const r = final.result!;
      if (final.kind === 'self-update' && final.params.verify === true && final.state === 'succeeded' && r.agentVersionBefore === r.agentVersionAfter) {
        final = {
          ...final,
          state: 'failed',
          exit: 1,
          error: `self-update --verify: host ${this.config.host} still runs agent ${r.agentVersionAfter} after the update; check that the agent's flake input moved and that the service restarted`,
        };
      }
      try {
        writeOpInfo(this.stateDir, final);
        // The worker's audit record predates the restart these ops cause.
        if (AGENT_RESTARTING_KINDS.includes(final.kind)) auditOp(this.stateDir, final, true);
      } catch {
        /* state dir read-only or gone: report what we know */
      }
    }
    this.emit('end', final);
    return final;
  }

  /** Stop watching (the workers keep running). */
  close(): void {
    this.closed = true;
    if (this.scanner) {
      clearInterval(this.scanner.timer);
      this.scanner.watcher?.close();
    }
    for (const id of [...this.running.keys()]) this.unwatch(id);
    for (const e of this.journals.values()) e.watcher.close();
    this.journals.clear();
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
