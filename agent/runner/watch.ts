// Following running ops: read each op's record whenever it is replaced (fs.watch on the
// op's directory) and every POLL_MS (file systems without inotify, a missed event), until
// it is final and its worker finished what follows (its `finished` file, or the process
// gone); notice the moment it starts waiting for a confirmation (magic rollback), and
// tell a worker that died without writing its end from one that is still starting.
import { existsSync, watch as watchDir, type FSWatcher } from 'node:fs';
import { FINAL_OP_STATES, type OpInfo } from '../../protocol';
import { readOpInfo } from '../journal/opStore';
import { finishedFile, opDir } from '../journal/paths';
import { processRunning } from './process';
import { readWorker } from './request';

export const POLL_MS = 200;
/** A worker that has not recorded itself this long after its op was accepted never started. */
const WORKER_START_MS = 30_000;

interface Watched {
  timer: NodeJS.Timeout;
  /** op.json is replaced by a rename: its end reaches clients at once, not at the next poll. */
  dirWatcher?: FSWatcher;
  cancelTimer?: NodeJS.Timeout;
  /** performance.now() when watching began: the worker's start grace is monotonic time, not wall-clock. */
  since: number;
  /** The confirmDeadline last announced (magic rollback). */
  confirmDeadline?: string;
}

export interface WatchHooks {
  /** Not to be watched now (the manager is closed, or the op's dead worker is being recorded). */
  skip(opId: string): boolean;
  /** The op's record is final. */
  ended(info: OpInfo): void;
  /** The op now waits for op.confirm until info.confirmDeadline. */
  awaitsConfirmation(opId: string, info: OpInfo): void;
  /** Its worker is gone and never wrote an end (`info` as last read). */
  died(info: OpInfo): void;
}

export class OpWatch {
  private readonly running = new Map<string, Watched>();

  constructor(
    private readonly stateDir: string,
    private readonly hooks: WatchHooks,
  ) {}

  /** How many ops are followed now (running, as far as this process knows). */
  get watching(): number {
    return this.running.size;
  }

  watch(opId: string): void {
    if (this.running.has(opId) || this.hooks.skip(opId)) return;
    const timer = setInterval(() => this.check(opId), POLL_MS);
    timer.unref();
    const watched: Watched = { timer, since: performance.now() };
    this.running.set(opId, watched);
    try {
      watched.dirWatcher = watchDir(opDir(this.stateDir, opId), { persistent: false }, (_event, name) => {
        if (name === null || name === 'op.json' || name === 'finished') this.check(opId);
      });
      watched.dirWatcher.on('error', () => watched.dirWatcher?.close());
    } catch {
      watched.dirWatcher = undefined; // no inotify here (or no directory yet): the poll alone
    }
    setImmediate(() => this.check(opId));
  }

  /** Give a cancelled op's worker `ms` to stop, then `then` (kill it); once per op. */
  afterGrace(opId: string, ms: number, then: () => void): void {
    const w = this.running.get(opId);
    if (!w || w.cancelTimer) return;
    w.cancelTimer = setTimeout(then, ms);
    w.cancelTimer.unref();
  }

  unwatch(opId: string): void {
    const w = this.running.get(opId);
    if (!w) return;
    clearInterval(w.timer);
    w.dirWatcher?.close();
    if (w.cancelTimer) clearTimeout(w.cancelTimer);
    this.running.delete(opId);
  }

  close(): void {
    for (const id of [...this.running.keys()]) this.unwatch(id);
  }

  /** Has the op ended, or has its worker died without saying so? */
  check(opId: string): void {
    const watched = this.running.get(opId);
    if (!watched) return;
    let info: OpInfo | undefined;
    try {
      info = readOpInfo(this.stateDir, opId);
    } catch {
      return; // mid-replace on a filesystem without atomic rename: next poll
    }
    if (!info) return;
    if (FINAL_OP_STATES.includes(info.state)) {
      // After its final record the worker writes its audit record and frees the host: the
      // end is announced once it says it finished them, or is gone.
      if (!existsSync(finishedFile(this.stateDir, opId)) && this.workerRunning(opId)) return;
      this.unwatch(opId);
      this.hooks.ended(info);
      return;
    }
    if (info.confirmDeadline && info.confirmDeadline !== watched.confirmDeadline) {
      watched.confirmDeadline = info.confirmDeadline;
      this.hooks.awaitsConfirmation(opId, info);
    }
    if (this.workerAlive(opId, watched)) return;
    // The worker writes op.json before it exits: read once more to close that window.
    const again = readOpInfo(this.stateDir, opId);
    this.unwatch(opId);
    if (again && FINAL_OP_STATES.includes(again.state)) this.hooks.ended(again);
    else this.hooks.died(again ?? info);
  }

  /** Does a worker that recorded itself still run the op? */
  private workerRunning(opId: string): boolean {
    const worker = readWorker(this.stateDir, opId);
    return worker !== undefined && processRunning(worker.pid, worker.startTime);
  }

  private workerAlive(opId: string, watched: Watched): boolean {
    const worker = readWorker(this.stateDir, opId);
    // Not recorded yet: give it WORKER_START_MS from when this process began watching, on
    // the monotonic clock (a wall clock stepped forward must not declare it dead).
    if (!worker) return performance.now() - watched.since < WORKER_START_MS;
    return processRunning(worker.pid, worker.startTime);
  }
}
