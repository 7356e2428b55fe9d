// The fleet: every host from settings and the workspace flake, one agent session per
// configured host, the last known state of each, and ops started and followed by seq.
// No vscode import: the extension renders this, the unit tests drive it against real agents.
import { FINAL_OP_STATES, type OpInfo, type OpKind, type OutputLine } from '../../protocol';
import { asksForConfirmation, confirmActivation } from './confirmActivation';
import type { DiscoveredHost } from './discovery';
import { Emitter } from './emitter';
import { parseAddress, type AgentEndpoint, type HostEntry } from './hostConfig';
import type { HostSnapshot } from './hostSnapshot';
import { newOpId } from './opIds';
import { OutputTracker } from './outputTracker';
import { RefreshQueue } from './refreshQueue';
import { AgentRequestError, type AgentSession, type OpEvent, type SessionState } from './session';
import type { WorkspaceInfo } from './workspace';

export interface FleetDeps {
  openSession(entry: HostEntry, endpoint: AgentEndpoint, token: string | undefined): AgentSession;
  getToken(host: string): Promise<string | undefined>;
  /** How long a command waits for an offline host to come online before giving up. */
  connectWaitMs?: number;
  refreshDelayMs?: number;
}

export interface OutputEvent {
  host: string;
  op: string;
  lines: OutputLine[];
  /** Lines the journal had but this client never received (should not happen; shown if it does). */
  gap?: { from: number; to: number };
}

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

interface HostRecord {
  snapshot: HostSnapshot;
  session?: AgentSession;
  unsubscribe: Array<() => void>;
  /** Key of the entry the session was opened for, to reopen only when it changed. */
  sessionKey?: string;
}

interface OpWaiter {
  host: string;
  kind: OpKind;
  magicRollback?: { confirmed: boolean; inFlight: boolean };
  resolve(op: OpInfo): void;
  onState?(op: OpInfo): void;
}

const isFinal = (op: OpInfo) => FINAL_OP_STATES.includes(op.state);

export class Fleet {
  private readonly records = new Map<string, HostRecord>();
  private entries: HostEntry[] = [];
  private discovered: DiscoveredHost[] = [];
  private started = false;
  private disposed = false;
  private readonly tracker = new OutputTracker();
  /** Ops whose output this client follows, by op id → host. */
  private readonly followed = new Map<string, string>();
  private readonly waiters = new Map<string, OpWaiter>();
  private readonly refreshQueue: RefreshQueue<string>;

  /** Problems with settings or discovery, shown as message nodes. */
  problems: string[] = [];
  workspace: WorkspaceInfo | undefined;

  readonly onDidChange = new Emitter<void>();
  readonly onOutput = new Emitter<OutputEvent>();
  readonly onOpEnd = new Emitter<{ host: string; op: OpInfo }>();
  readonly onOpStart = new Emitter<{ host: string; op: OpInfo }>();
  /** Things the fleet did on its own that belong in the host's log (e.g. a magic-rollback confirmation). */
  readonly onNotice = new Emitter<{ host: string; level: 'info' | 'warn'; text: string }>();

  constructor(private readonly deps: FleetDeps) {
    this.refreshQueue = new RefreshQueue((keys) => this.refreshNow(keys), deps.refreshDelayMs ?? 100);
  }

  // ------------------------------------------------------------ hosts

  /** Replace the host list (settings entries + flake discovery). Sessions follow when started. */
  configure(entries: HostEntry[], discovered: DiscoveredHost[], problems: string[]): void {
    this.entries = entries;
    this.discovered = discovered;
    this.problems = problems;
    const names = new Set<string>();
    for (const e of entries) {
      names.add(e.name);
      const rec = this.records.get(e.name);
      if (rec) {
        rec.snapshot.entry = e;
        rec.snapshot.platform = e.platform;
        // Sessions open as soon as the fleet is started (view shown or a command run).
        if (rec.snapshot.connection === 'unconfigured') rec.snapshot.connection = 'connecting';
      } else {
        this.records.set(e.name, { snapshot: { name: e.name, platform: e.platform, entry: e, connection: 'connecting', runningOps: [] }, unsubscribe: [] });
      }
    }
    for (const d of discovered) {
      const rec = this.records.get(d.name);
      if (rec) rec.snapshot.discoveredIn = d.attribute;
      if (names.has(d.name)) continue;
      names.add(d.name);
      if (rec) {
        this.closeSession(rec);
        rec.snapshot = { name: d.name, platform: d.platform, discoveredIn: d.attribute, connection: 'unconfigured', runningOps: [] };
      } else {
        this.records.set(d.name, { snapshot: { name: d.name, platform: d.platform, discoveredIn: d.attribute, connection: 'unconfigured', runningOps: [] }, unsubscribe: [] });
      }
    }
    for (const [name, rec] of this.records) {
      if (!names.has(name)) {
        this.closeSession(rec);
        this.records.delete(name);
      }
    }
    if (this.started) void this.connectAll();
    this.onDidChange.fire();
  }

  hosts(): HostSnapshot[] {
    return [...this.records.values()].map((r) => r.snapshot).sort((a, b) => a.name.localeCompare(b.name));
  }

  host(name: string): HostSnapshot | undefined {
    return this.records.get(name)?.snapshot;
  }

  /** The hosts that have an agent configured. */
  configuredHosts(): HostSnapshot[] {
    return this.hosts().filter((h) => h.entry);
  }

  setWorkspace(info: WorkspaceInfo | undefined): void {
    this.workspace = info;
    this.onDidChange.fire();
  }

  /** Open sessions to every configured host. Called when the view is shown or a command runs. */
  async start(): Promise<void> {
    if (this.started || this.disposed) return;
    this.started = true;
    await this.connectAll();
  }

  get isStarted(): boolean {
    return this.started;
  }

  /** Close and reopen one host's session (e.g. after its token changed). */
  async reconnect(host: string): Promise<void> {
    const rec = this.records.get(host);
    if (!rec) return;
    this.closeSession(rec);
    if (this.started) await this.connect(rec);
  }

  private async connectAll(): Promise<void> {
    await Promise.all([...this.records.values()].map((r) => this.connect(r)));
  }

  private async connect(rec: HostRecord): Promise<void> {
    const entry = rec.snapshot.entry;
    if (!entry || this.disposed) return;
    const key = JSON.stringify(entry);
    if (rec.session && rec.sessionKey === key) return;
    this.closeSession(rec);
    let endpoint: AgentEndpoint;
    try {
      endpoint = parseAddress(entry.name, entry.address, entry);
    } catch (err) {
      this.update(rec, { connection: 'offline', problem: (err as Error).message });
      return;
    }
    rec.sessionKey = key;
    const token = await this.deps.getToken(entry.name).catch(() => undefined);
    if (this.disposed || rec.sessionKey !== key || rec.session) return;
    const session = this.deps.openSession(entry, endpoint, token);
    rec.session = session;
    rec.unsubscribe.push(
      session.onState((s) => this.onSessionState(rec, session, s)),
      session.onHostStatus((status) => {
        if (rec.session !== session) return;
        const before = rec.snapshot.status;
        this.update(rec, { status, lastSeen: new Date().toISOString() });
        if (!before || before.currentGeneration !== status.currentGeneration || before.lastChecks?.at !== status.lastChecks?.at) {
          void this.refresh(entry.name);
        }
      }),
      session.onOpEvent((e) => this.onOpEvent(rec, e)),
    );
    this.onSessionState(rec, session, session.state);
  }

  private closeSession(rec: HostRecord): void {
    for (const u of rec.unsubscribe.splice(0)) u();
    rec.session?.close();
    rec.session = undefined;
    rec.sessionKey = undefined;
  }

  private onSessionState(rec: HostRecord, session: AgentSession, s: SessionState): void {
    if (rec.session !== session) return;
    if (s.state === 'online') {
      this.update(rec, { connection: 'online', problem: undefined, agentVersion: s.welcome.agent.version, lastSeen: new Date().toISOString() });
      // After a reconnect (or an agent restart) pick up followed ops where we left them.
      for (const [op, host] of this.followed) {
        if (host === rec.snapshot.name) void this.resubscribe(rec, op);
      }
      void this.refresh(rec.snapshot.name);
    } else if (s.state === 'offline') {
      this.update(rec, { connection: 'offline', problem: s.reason });
    }
    // 'connecting' changes nothing shown: an offline host stays offline (with its reason)
    // while the session retries, so the tree does not flicker on every backoff round.
  }

  private update(rec: HostRecord, patch: Partial<HostSnapshot>): void {
    rec.snapshot = { ...rec.snapshot, ...patch };
    this.onDidChange.fire();
  }

  // ------------------------------------------------------------ refresh

  /** Fetch status, generations and running ops of one host (or all), batched. */
  refresh(host?: string): Promise<void> {
    return this.refreshQueue.queue(host);
  }

  private async refreshNow(keys: Set<string> | 'all'): Promise<void> {
    const recs = keys === 'all' ? [...this.records.values()] : [...keys].flatMap((k) => this.records.get(k) ?? []);
    await Promise.all(recs.map((r) => this.refreshHost(r)));
  }

  private async refreshHost(rec: HostRecord): Promise<void> {
    const session = rec.session;
    if (!session || session.state.state !== 'online') return;
    try {
      const [status, generations, ops] = await Promise.all([session.status(), session.generations(), session.listOps(50)]);
      if (rec.session !== session) return;
      const running = ops.filter((o) => o.state === 'running');
      this.update(rec, { status, generations, runningOps: running, lastSeen: new Date().toISOString(), problem: undefined });
      // Show output of ops started elsewhere (CLI, deploy, another window) in this host's log.
      for (const op of running) if (!this.followed.has(op.id)) this.follow(rec, op);
    } catch (err) {
      if (rec.session !== session) return;
      this.update(rec, { problem: `refresh failed: ${(err as Error).message}` });
    }
  }

  // ------------------------------------------------------------ ops

  private onOpEvent(rec: HostRecord, e: OpEvent): void {
    const host = rec.snapshot.name;
    if (e.type === 'op.output') {
      if (!this.followed.has(e.op)) this.followed.set(e.op, host);
      const { fresh, gap } = this.tracker.accept(e.op, e.lines);
      if (fresh.length) this.onOutput.fire({ host, op: e.op, lines: fresh, gap });
      // The worker announces the wait for a confirmation with an info line ("waiting for the
      // controller to confirm …") right after it recorded confirmDeadline. The line is only the
      // cue; confirmActivation checks confirmDeadline in the op record before confirming.
      const magic = this.waiters.get(e.op)?.magicRollback;
      if (magic && !magic.confirmed && !magic.inFlight && asksForConfirmation(fresh)) {
        void this.confirmActivation(host, e.op, magic);
      }
      return;
    }
    const op = e.op;
    // An op started by someone else (CLI, another window, a deploy): show its output too.
    if (!isFinal(op) && !this.followed.has(op.id)) this.follow(rec, op);
    const others = rec.snapshot.runningOps.filter((o) => o.id !== op.id);
    this.update(rec, { runningOps: isFinal(op) ? others : [...others, op] });
    const waiter = this.waiters.get(op.id);
    waiter?.onState?.(op);
    if (e.type === 'op.end' || isFinal(op)) this.finish(host, op);
  }

  private finish(host: string, op: OpInfo): void {
    const waiter = this.waiters.get(op.id);
    const done = () => {
      if (!this.followed.has(op.id)) return;
      this.followed.delete(op.id);
      this.onOpEnd.fire({ host, op });
      void this.refresh(host);
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
    this.onOpStart.fire({ host: rec.snapshot.name, op });
    void this.resubscribe(rec, op.id);
  }

  private async resubscribe(rec: HostRecord, op: string): Promise<void> {
    const session = rec.session;
    if (!session || session.state.state !== 'online') return;
    try {
      const info = await session.subscribeOp(op, this.tracker.lastSeq(op));
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
   * The live session of a configured host. An offline host gets one fresh connection attempt
   * (with the current token) and the command fails fast with the reason if that fails too.
   */
  async session(host: string): Promise<AgentSession> {
    const rec = this.records.get(host);
    if (!rec) throw new Error(`host ${host} is not in nixfleet.hosts nor in the workspace flake: add it with "NixFleet: Add Host"`);
    if (!rec.snapshot.entry) throw new Error(`host ${host} has no agent configured: use "NixFleet: Add Host" to give its agent's address`);
    await this.start();
    await this.connect(rec);
    if (rec.session?.state.state === 'offline') await this.reconnect(host);
    const session = rec.session;
    if (!session) throw new Error(`host ${host}: ${rec.snapshot.problem ?? 'no session'}`);
    if (session.state.state === 'online') return session;
    const waitMs = this.deps.connectWaitMs ?? 15_000;
    const outcome = await new Promise<SessionState>((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(session.state);
      }, waitMs);
      const off = session.onState((s) => {
        if (s.state === 'connecting') return;
        clearTimeout(timer);
        off();
        resolve(s);
      });
    });
    if (outcome.state !== 'online' || rec.session !== session) {
      const reason = outcome.state === 'offline' ? outcome.reason : `no answer within ${Math.round(waitMs / 1000)} s`;
      throw new Error(`host ${host} is offline (${reason}): check that its agent runs and is reachable at ${rec.snapshot.entry.address}, then retry`);
    }
    return session;
  }

  /**
   * Replay the journals of the host's most recent ops that this window has not shown yet
   * (e.g. after a reload), oldest first, into the output events. Returns the ops replayed.
   */
  async replayRecent(host: string, count = 3): Promise<OpInfo[]> {
    const rec = this.records.get(host);
    const session = await this.session(host);
    const ops = (await session.listOps(count)).filter((o) => !this.followed.has(o.id) && this.tracker.lastSeq(o.id) === 0);
    ops.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
    for (const op of ops) {
      const ended = new Promise<void>((resolve) => {
        const timer = setTimeout(() => (off(), resolve()), 10_000);
        const off = this.onOpEnd.on((e) => e.op.id === op.id && (clearTimeout(timer), off(), resolve()));
      });
      this.follow(rec!, op);
      // Running ops keep streaming; finished ones end right after their replay.
      if (isFinal(op)) await ended;
    }
    return ops;
  }

  /** Confirm an activated op over a fresh connection (magic rollback). */
  private async confirmActivation(host: string, op: string, magic: { confirmed: boolean; inFlight: boolean }): Promise<void> {
    const entry = this.records.get(host)?.snapshot.entry;
    if (!entry) return;
    magic.inFlight = true;
    try {
      const token = await this.deps.getToken(host).catch(() => undefined);
      const fresh = this.deps.openSession(entry, parseAddress(entry.name, entry.address, entry), token);
      if ((await confirmActivation(fresh, op)) !== 'confirmed') return; // not waiting (yet): the next info line retries
      magic.confirmed = true;
      this.onNotice.fire({ host, level: 'info', text: `confirmed op ${op} over a new connection: host ${host} is still reachable (magic rollback)` });
    } catch (err) {
      this.onNotice.fire({ host, level: 'warn', text: `could not confirm op ${op} (magic rollback): ${(err as Error).message}; ${host} rolls back by itself unless confirmed in time` });
    } finally {
      magic.inFlight = false;
    }
  }

  /** Try again now for hosts that are offline (Refresh): a fresh session with the current token. */
  async retryOffline(host?: string): Promise<void> {
    if (!this.started) return;
    const recs = host ? [this.records.get(host)].filter((r): r is HostRecord => !!r) : [...this.records.values()];
    await Promise.all(recs.filter((r) => r.snapshot.entry && r.snapshot.connection === 'offline').map((r) => this.reconnect(r.snapshot.name)));
  }

  /**
   * Start an op on a host and follow it to its end. Resolves with the final OpInfo (whatever
   * its state); rejects only when the op could not be started (offline, busy, invalid).
   * Aborting `signal` sends op.cancel; the promise still resolves with the op's final state.
   */
  async runOp(host: string, kind: OpKind, params: Record<string, unknown>, opts: RunOpOptions = {}): Promise<OpInfo> {
    const session = await this.session(host);
    const rec = this.records.get(host)!;
    const id = opts.opId ?? newOpId(kind);
    const ended = new Promise<OpInfo>((resolve) => this.waiters.set(id, { host, kind, resolve, onState: opts.onState, magicRollback: opts.magicRollback ? { confirmed: false, inFlight: false } : undefined }));
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
    this.onOpStart.fire({ host, op: started.op });
    const others = rec.snapshot.runningOps.filter((o) => o.id !== id);
    if (!isFinal(started.op)) this.update(rec, { runningOps: [...others, started.op] });
    const onAbort = () => {
      const s = this.records.get(host)?.session;
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
    this.refreshQueue.dispose();
    for (const rec of this.records.values()) this.closeSession(rec);
    for (const [id, w] of this.waiters) w.resolve(lostOp(id, w.kind, w.host));
    this.waiters.clear();
    this.onDidChange.clear();
    this.onOutput.clear();
    this.onOpEnd.clear();
    this.onOpStart.clear();
    this.onNotice.clear();
  }
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
        return new Error(`${kind} on ${host} not started: host is ${msg.replace(/^busy:\s*/, 'busy: ')}; wait for it or cancel it`);
      case 'unauthorized':
        return new Error(`${kind} on ${host} not started: the agent refused the token (${msg}); set it with "NixFleet: Set Agent Token"`);
    }
  }
  return new Error(`${kind} on ${host} not started: ${msg}`);
}
