// Ops as this client follows them: started here (runOp) or seen running elsewhere (CLI,
// another window, a deploy). Every output line is shown once, in seq order, across reconnects
// and agent restarts (resume by seq); whoever awaits an op gets its final record after its
// last line.
import { CONFIRM_DEADLINE_EVENT, FINAL_OP_STATES, type OpInfo, type OpKind } from '../../protocol';
import type { Connections } from './connections';
import type { FleetEvents } from './fleetEvents';
import type { HostRecord, HostRegistry } from './hostRegistry';
import { ActivationConfirmation } from './magicRollback';
import { newOpId } from './opIds';
import { OutputTracker } from './outputTracker';
import { AgentRequestError, type OpEvent } from './session';

export interface RunOpOptions {
  signal?: AbortSignal;
  /** Reuse an id (e.g. to re-attach to an op after a restart); default: a new one. */
  opId?: string;
  /**
   * Magic rollback: the agent waits (its confirmTimeout) after activating for a confirmation
   * sent over a NEW connection, proving the host is still reachable; without it the host goes
   * back to its previous generation by itself. The fleet confirms automatically.
   */
  magicRollback?: boolean;
  /** Called once the agent accepted the op. */
  onStarted?(op: OpInfo): void;
  onState?(op: OpInfo): void;
}

interface OpWaiter {
  host: string;
  kind: OpKind;
  confirmation?: ActivationConfirmation;
  resolve(op: OpInfo): void;
  onState?(op: OpInfo): void;
}

export const isFinal = (op: OpInfo) => FINAL_OP_STATES.includes(op.state);

export class OpFollower {
  private readonly tracker = new OutputTracker();
  /** Ops whose output this client follows, by op id → host. */
  private readonly followed = new Map<string, string>();
  private readonly waiters = new Map<string, OpWaiter>();
  private disposed = false;

  constructor(
    private readonly registry: HostRegistry,
    private readonly connections: Connections,
    private readonly events: FleetEvents,
    /** Ask for a refresh of the host (its generations changed when an op ended). */
    private readonly refresh: (host: string) => void,
  ) {}

  /** After a reconnect (or an agent restart) pick up the host's followed ops where we left them. */
  resume(rec: HostRecord): void {
    for (const [op, host] of this.followed) {
      if (host === rec.snapshot.name) void this.resubscribe(rec, op);
    }
  }

  /** Follow an op seen running on the host, unless it is followed already. */
  followIfNew(rec: HostRecord, op: OpInfo): void {
    if (!this.followed.has(op.id)) this.follow(rec, op);
  }

  onOpEvent(rec: HostRecord, e: OpEvent): void {
    const host = rec.snapshot.name;
    if (e.type === 'op.output') {
      if (!this.followed.has(e.op)) this.followed.set(e.op, host);
      const { fresh, gap } = this.tracker.accept(e.op, e.lines);
      if (fresh.length) this.events.onOutput.fire({ host, op: e.op, lines: fresh, gap });
      // An agent that does not announce the waiting with op.state: an info line (the worker
      // writes one when it starts waiting) is the cue to read the op's record again.
      const confirmation = this.waiters.get(e.op)?.confirmation;
      if (confirmation && !announcesConfirmDeadline(rec) && fresh.some((l) => l.stream === 'info')) confirmation.check();
      return;
    }
    const op = e.op;
    // An op started by someone else (CLI, another window, a deploy): show its output too.
    if (!isFinal(op) && !this.followed.has(op.id)) this.follow(rec, op);
    const others = rec.snapshot.runningOps.filter((o) => o.id !== op.id);
    this.registry.update(rec, { runningOps: isFinal(op) ? others : [...others, op] });
    const waiter = this.waiters.get(op.id);
    waiter?.onState?.(op);
    waiter?.confirmation?.onState(op);
    if (e.type === 'op.end' || isFinal(op)) this.finish(host, op);
  }

  private finish(host: string, op: OpInfo): void {
    const waiter = this.waiters.get(op.id);
    const done = () => {
      if (!this.followed.has(op.id)) return;
      this.followed.delete(op.id);
      this.events.onOpEnd.fire({ host, op });
      this.refresh(host);
      if (waiter) {
        this.waiters.delete(op.id);
        waiter.resolve(op);
      }
    };
    // Lines are journalled before they are streamed: wait (briefly) until every line up to
    // op.lastSeq arrived, so whoever awaits the op sees its whole output.
    const deadline = Date.now() + 3000;
    const check = () => {
      if (this.tracker.lastSeq(op.id) >= op.lastSeq || Date.now() > deadline || this.disposed) done();
      else setTimeout(check, 25);
    };
    check();
  }

  private follow(rec: HostRecord, op: OpInfo): void {
    this.followed.set(op.id, rec.snapshot.name);
    this.events.onOpStart.fire({ host: rec.snapshot.name, op });
    void this.resubscribe(rec, op.id);
  }

  private async resubscribe(rec: HostRecord, op: string): Promise<void> {
    const session = rec.session;
    if (!session || session.state.state !== 'online') return;
    try {
      const info = await session.subscribeOp(op, this.tracker.lastSeq(op));
      // The op may have started waiting for its confirmation while we were away.
      this.waiters.get(op)?.confirmation?.onState(info);
      if (isFinal(info)) this.finish(rec.snapshot.name, info);
    } catch (err) {
      if (err instanceof AgentRequestError && err.code === 'not-found') {
        this.followed.delete(op);
        const w = this.waiters.get(op);
        if (w) {
          this.waiters.delete(op);
          w.resolve(lostOp(op, w.kind, rec.snapshot.name));
        }
      }
      // Other failures: the session reconnects and we resubscribe then.
    }
  }

  /**
   * Replay the journals of the host's most recent ops that this window has not shown yet
   * (e.g. after a reload), oldest first, into the output events. Returns the ops replayed.
   */
  async replayRecent(host: string, count = 3): Promise<OpInfo[]> {
    const session = await this.connections.session(host);
    const rec = this.registry.get(host)!;
    const ops = (await session.listOps(count)).filter((o) => !this.followed.has(o.id) && this.tracker.lastSeq(o.id) === 0);
    ops.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
    for (const op of ops) {
      const ended = new Promise<void>((resolve) => {
        const timer = setTimeout(() => (off(), resolve()), 10_000);
        const off = this.events.onOpEnd.on((e) => e.op.id === op.id && (clearTimeout(timer), off(), resolve()));
      });
      this.follow(rec, op);
      // Running ops keep streaming; finished ones end right after their replay.
      if (isFinal(op)) await ended;
    }
    return ops;
  }

  /**
   * Start an op on a host and follow it to its end. Resolves with the final OpInfo (whatever
   * its state); rejects only when the op could not be started (offline, busy, invalid).
   * Aborting `signal` sends op.cancel; the promise still resolves with the op's final state.
   */
  async runOp(host: string, kind: OpKind, params: Record<string, unknown>, opts: RunOpOptions = {}): Promise<OpInfo> {
    const session = await this.connections.session(host);
    const rec = this.registry.get(host)!;
    const id = opts.opId ?? newOpId(kind);
    const confirmation = opts.magicRollback ? new ActivationConfirmation(host, id, this.connections, this.events) : undefined;
    const ended = new Promise<OpInfo>((resolve) => this.waiters.set(id, { host, kind, resolve, onState: opts.onState, confirmation }));
    this.followed.set(id, host);
    let started: { op: OpInfo; existing: boolean };
    try {
      started = await session.startOp({ op: id, kind, params, magicRollback: opts.magicRollback });
    } catch (err) {
      this.waiters.delete(id);
      this.followed.delete(id);
      throw describeStartError(host, kind, err);
    }
    opts.onStarted?.(started.op);
    this.events.onOpStart.fire({ host, op: started.op });
    const others = rec.snapshot.runningOps.filter((o) => o.id !== id);
    if (!isFinal(started.op)) this.registry.update(rec, { runningOps: [...others, started.op] });
    const onAbort = () => {
      const s = this.registry.get(host)?.session;
      s?.cancelOp(id).catch(() => undefined);
    };
    if (opts.signal) {
      if (opts.signal.aborted) onAbort();
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
    await this.resubscribe(rec, id);
    try {
      return await ended;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  dispose(): void {
    this.disposed = true;
    for (const [id, w] of this.waiters) w.resolve(lostOp(id, w.kind, w.host));
    this.waiters.clear();
  }
}

function announcesConfirmDeadline(rec: HostRecord): boolean {
  const s = rec.session?.state;
  return s?.state === 'online' && s.welcome.capabilities.includes(CONFIRM_DEADLINE_EVENT);
}

/** What a caller awaiting an op gets when the agent no longer knows it, or the fleet closed. */
function lostOp(op: string, kind: OpKind, host: string): OpInfo {
  return {
    id: op,
    kind,
    params: {},
    state: 'interrupted',
    client: { name: 'unknown', auth: 'unknown' },
    startedAt: new Date().toISOString(),
    lastSeq: 0,
    agentVersion: 'unknown',
    error: `host ${host} no longer knows op ${op} (its state dir was reset or the connection closed): check the host's log`,
  };
}

function describeStartError(host: string, kind: OpKind, err: unknown): Error {
  const msg = (err as Error).message ?? String(err);
  if (err instanceof AgentRequestError) {
    switch (err.code) {
      case 'busy':
        return new AgentRequestError(`${kind} on ${host} not started: host is ${msg.replace(/^busy:\s*/, 'busy: ')}; wait for it or cancel it`, err.code, host);
      case 'unauthorized':
        return new AgentRequestError(`${kind} on ${host} not started: the agent refused the token (${msg}); set it with "NixFleet: Set Agent Token"`, err.code, host);
    }
    // The code stays for callers that dispatch on it (flows/fixes.ts).
    return new AgentRequestError(`${kind} on ${host} not started: ${msg}`, err.code, host);
  }
  return new Error(`${kind} on ${host} not started: ${msg}`);
}
