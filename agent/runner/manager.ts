// Runs ops for the agent and the CLI alike. This file wires the jobs together; each lives in
// its own file: accepting a start and taking the host lock (accept.ts), starting its worker
// (launch.ts), following workers (watch.ts), cancel and confirm (control.ts), a worker that
// died without an end (deadWorker.ts, recovery.ts), ops other processes start
// (foreignOps.ts), the standby worker (standby.ts), and what the agent that sees an op end
// adds to its record (endRules.ts, with the op's own rules).
import { EventEmitter } from 'node:events';
import { FINAL_OP_STATES, type OpInfo } from '../../protocol';
import type { AgentConfig } from '../config';
import { getOp } from '../ops/registry';
import { listOpIds, listOps, readOpInfo } from '../journal/opStore';
import { journalFile } from '../journal/paths';
import { lastSeqOf } from '../journal/reader';
import { FileWatcher } from '../journal/watcher';
import { acceptOp, OpRequestError, type StartRequest } from './accept';
import { CANCEL_GRACE_MS, notConfirmable, requestCancel, signalWorker, writeConfirmation } from './control';
import { recordDeadWorker } from './deadWorker';
import { endObserved, endRecord, recordEnd } from './endRules';
import { ForeignOpScanner } from './foreignOps';
import { startCold } from './launch';
import type { SpawnedWorker } from './spawn';
import { StandbyWorker } from './standby';
import { OpWatch } from './watch';
import { readWorker } from './request';
import { processRunning } from './process';

/** How long the agent that saw an op end waits for its worker to exit before adding its own record. */
const WORKER_EXIT_WAIT_MS = 2000;

export { OpRequestError, type StartRequest } from './accept';
export { CANCEL_GRACE_MS } from './control';

export interface OpManagerOptions {
  /** Keep a standby worker for the next op, as config standbyWorker says (the serving agent only). */
  standby?: AgentConfig['standbyWorker'];
  /** The agent's log (stderr), for what the standby worker could not do. */
  log?: (text: string) => void;
}

export interface OpManagerEvents {
  state: [OpInfo];
  end: [OpInfo];
}

export class OpManager extends EventEmitter<OpManagerEvents> {
  readonly stateDir: string;
  private readonly journals = new Map<string, { watcher: FileWatcher; listeners: Set<() => void> }>();
  private closed = false;
  /** Op ids this manager has seen, to notice ops started by other processes (the CLI). */
  private readonly known = new Set<string>();
  /** Ops whose dead worker this process is recording (recovery may run nix-env meanwhile). */
  private readonly dying = new Set<string>();
  private scanner: ForeignOpScanner | undefined;
  private readonly watcher: OpWatch;
  private readonly standby: StandbyWorker | undefined;
  /** Ends emitted whose record this process is about to write (observeEnd). */
  private readonly ending = new Map<string, OpInfo>();

  constructor(
    readonly config: AgentConfig,
    opts: OpManagerOptions = {},
  ) {
    super();
    this.stateDir = config.stateDir;
    this.standby =
      opts.standby && opts.standby !== 'never' ? new StandbyWorker(config, opts.standby, opts.log ?? (() => {}), () => this.watcher.watching > 0) : undefined;
    this.watcher = new OpWatch(this.stateDir, {
      skip: (id) => this.closed || this.dying.has(id),
      ended: (info) => void this.observeEnd(info),
      // The worker now waits for op.confirm: say so with op.state, the controller's cue to confirm.
      awaitsConfirmation: (id, info) => this.emit('state', this.get(id) ?? info),
      died: (info) => void this.markDead(info),
    });
  }

  /**
   * Start the standby worker (when configured): retires those of earlier agents first, and
   * starts cold the worker of an op one of them was handed and never took (after recover()).
   */
  startStandby(): void {
    this.standby?.start((opId) => {
      let info: OpInfo | undefined;
      try {
        info = readOpInfo(this.stateDir, opId);
      } catch {
        return; // unreadable: its watch records it interrupted once no worker recorded itself
      }
      if (info?.state !== 'running' || readWorker(this.stateDir, opId)) return;
      this.known.add(opId);
      this.watcher.watch(opId);
      startCold({ config: this.config, accepted: (i, spawned) => this.accepted(i, spawned) }, info);
    });
  }

  /**
   * Start the next standby worker (when configured, wanted and none waits): called once an
   * op's end went out to the clients, so spawning it (a fork in this process) does not delay
   * op.end, and its loading competes with no op.
   */
  replenishStandby(): void {
    this.standby?.replenish();
  }

  /** An authenticated controller started an op: keep a standby ready for its next ones for a while (standbyWorker "auto"). */
  controllerActive(): void {
    this.standby?.wanted();
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
      if (info.state === 'running') this.watcher.watch(id);
      else if (!endObserved(info)) this.observeEnd(info);
    }
  }

  /** Accept an op: returns the existing op when the id is known (nothing new runs). */
  start(req: StartRequest, opts: { authenticated: boolean }): Promise<{ op: OpInfo; existing: boolean }> {
    return acceptOp(
      {
        config: this.config,
        get: (id) => this.get(id),
        recorded: (id) => {
          this.known.add(id);
          // Followed from here: while its worker starts (a standby's claim comes after op.start
          // was answered) it already counts as running, and a worker that never records
          // itself is found dead (watch.ts).
          this.watcher.watch(id);
        },
        accepted: (info, spawned) => this.accepted(info, spawned),
        handOff: this.standby ? (id) => this.standby!.handOff(id) : undefined,
        startAhead: this.standby ? (id, kind, params) => this.standby!.startAhead(id, kind, params) : undefined,
        withdrawAhead: (id) => this.standby?.withdrawAhead(id),
      },
      req,
      opts,
    );
  }

  /** Its worker was started (or handed the op): say so, and notice that process's exit. */
  private accepted(info: OpInfo, spawned: SpawnedWorker): void {
    spawned.exited?.then(() => this.watcher.check(info.id));
    this.emit('state', info);
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
    else if (info && this.isFinal(info) && !endObserved(info)) info = this.observeEnd(info);
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
    requestCancel(this.stateDir, opId);
    if (signalWorker(this.stateDir, opId, 'SIGTERM')) {
      this.watcher.watch(opId);
      this.watcher.afterGrace(opId, CANCEL_GRACE_MS, () => {
        signalWorker(this.stateDir, opId, 'SIGKILL');
        setTimeout(() => this.watcher.check(opId), 100).unref();
      });
    } else {
      this.watcher.check(opId);
    }
    return this.get(opId) ?? info;
  }

  /** Magic rollback: record the controller's confirmation for the waiting worker. */
  confirm(opId: string): OpInfo {
    const info = this.get(opId);
    if (!info) throw new OpRequestError('not-found', `no op ${opId} on host ${this.config.host}`);
    const why = notConfirmable(info);
    if (why) throw new OpRequestError('failed', why);
    writeConfirmation(this.stateDir, opId);
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
    this.scanner = new ForeignOpScanner(this.stateDir, this.known, (info) => {
      this.watcher.watch(info.id);
      this.emit('state', info);
    });
  }

  /** Follow an op this manager did not start (started by the CLI or another agent instance). */
  attach(opId: string): void {
    const info = this.get(opId);
    if (info && info.state === 'running') this.watcher.watch(opId);
  }

  /** Once per op in this process: a subscriber attaching meanwhile must not start another. */
  private async markDead(info: OpInfo): Promise<void> {
    if (this.dying.has(info.id)) return;
    this.dying.add(info.id);
    try {
      const end = await recordDeadWorker(this.config, info);
      if ('theirs' in end) this.observeEnd(end.theirs);
      else this.emit('end', end.recorded);
    } finally {
      this.dying.delete(info.id);
    }
  }

  /**
   * Record which agent version saw the op end and apply the op's end rules; emits `end`.
   * Clients hear the end first; the record is written right after (next event-loop turn,
   * or at close), so its fsyncs are not between the worker's end and the client's op.end.
   */
  private observeEnd(info: OpInfo): OpInfo {
    const pending = this.ending.get(info.id);
    if (pending) return pending;
    const def = getOp(info.kind);
    const final = endRecord(this.config, info, def);
    if (final !== info) {
      this.ending.set(info.id, final);
      if (def?.restartsAgent) {
        // Its end gets a second audit record from this agent (endRules.ts). Written once the
        // worker wrote its own (right after its final record, then it exits), and announced
        // after both: the log keeps the worker's record first, and a client that saw op.end
        // finds both. Such an op ran an activation; a few milliseconds more do not show.
        this.afterWorker(info.id, () => {
          this.recordEnd(info.id, def);
          if (!this.closed) this.emit('end', final);
        });
        return final;
      }
      setImmediate(() => this.recordEnd(info.id, def));
    }
    this.emit('end', final);
    return final;
  }

  /** Run `then` once op `opId`'s worker process is gone (at most WORKER_EXIT_WAIT_MS from now). */
  private afterWorker(opId: string, then: () => void): void {
    const until = performance.now() + WORKER_EXIT_WAIT_MS;
    const check = () => {
      const w = readWorker(this.stateDir, opId);
      if (!this.closed && w && processRunning(w.pid, w.startTime) && performance.now() < until) setTimeout(check, 5).unref();
      else then();
    };
    setImmediate(check);
  }

  private recordEnd(opId: string, def: ReturnType<typeof getOp>): void {
    const final = this.ending.get(opId);
    if (!final) return;
    this.ending.delete(opId);
    recordEnd(this.config, final, def);
  }

  /** Stop watching (the workers keep running). */
  close(): void {
    this.closed = true;
    for (const [id, final] of [...this.ending]) this.recordEnd(id, getOp(final.kind));
    this.standby?.close();
    this.scanner?.close();
    this.watcher.close();
    for (const e of this.journals.values()) e.watcher.close();
    this.journals.clear();
  }
}
