// One session per configured host: opened when the fleet starts (or an entry changes), closed
// when the host goes, reopened with the current token on demand. What arrives on a session
// (host status, op events, going online) is handed to the fleet's other parts.
import type { HostStatus } from '../../protocol';
import { parseAddress, type AgentEndpoint, type HostEntry } from './hostConfig';
import type { HostRecord, HostRegistry } from './hostRegistry';
import { AgentRequestError, waitSettled, type AgentSession, type OpEvent, type SessionState } from './session';

/** Sessions being opened at once when the fleet starts, and how long one may hold its place. */
export const OPENING_AT_ONCE = 8;
const OPENING_SLOT_MS = 3_000;
/**
 * At start the first host in the view's order opens alone until its row has its status (or
 * its host answered offline), at most this long: the other handshakes would share the CPU
 * with its status (on the controller, and with its agent where agents share a machine), and
 * the user looks at the top row first. Bounded so a slow first host holds nobody up long.
 */
export const HEAD_START_MS = 150;

export interface ConnectionDeps {
  openSession(entry: HostEntry, endpoint: AgentEndpoint, token: string | undefined): AgentSession;
  getToken(host: string): Promise<string | undefined>;
  /** How long a command waits for an offline host to come online before giving up. */
  connectWaitMs?: number;
  /** The first host's head start at most (default HEAD_START_MS). */
  headStartMs?: number;
}

export interface SessionListener {
  /** The session came online (first time, or again after a reconnect or an agent restart). */
  online(rec: HostRecord): void;
  hostStatus(rec: HostRecord, status: HostStatus, before: HostStatus | undefined): void;
  opEvent(rec: HostRecord, e: OpEvent): void;
}

export class Connections {
  private started = false;
  private disposed = false;
  /** Hosts waiting for their session to be opened (start, or a changed host list), in the view's order. */
  private readonly pending: HostRecord[] = [];
  private opening = 0;
  /** Who waits for the first row (firstRow()). */
  private readonly rowWaiters: Array<() => void> = [];
  /** The first host opened alone; over once its row has its status, it answered offline, or HEAD_START_MS passed. */
  private headStartOver = false;
  private headStartTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: ConnectionDeps,
    private readonly registry: HostRegistry,
    private readonly listener: SessionListener,
  ) {}

  get isStarted(): boolean {
    return this.started;
  }

  /**
   * Open sessions to every configured host, in the view's order and OPENING_AT_ONCE at a time
   * (the rows on top answer first; a big fleet does not start 200 ssh handshakes in the same
   * instant). Resolves once the first ones are opening: a command needing a host later in the
   * queue connects it itself (session()).
   */
  async start(): Promise<void> {
    if (this.started || this.disposed) return;
    this.started = true;
    this.connectAll();
  }

  /**
   * Resolves once the head start is over (the first row has its status, or its host answered
   * offline), at once when no host has an agent to open, or after `waitMs` (a slow first host
   * holds nothing up for long).
   */
  firstRow(waitMs: number): Promise<void> {
    if (this.headStartOver || this.disposed || !this.registry.all().some((r) => r.snapshot.entry)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      this.rowWaiters.push(done);
    });
  }

  /** After the host list changed: open what is new (only once started). */
  configured(): void {
    if (this.started) this.connectAll();
  }

  /** Queue every host whose session is missing or was opened for another entry. */
  private connectAll(): void {
    for (const { name } of this.registry.snapshots()) {
      const rec = this.registry.get(name);
      const entry = rec?.snapshot.entry;
      if (rec && entry && rec.sessionKey !== JSON.stringify(entry) && !this.pending.includes(rec)) this.pending.push(rec);
    }
    if (!this.headStartOver && !this.headStartTimer && this.pending.length) {
      this.headStartTimer = setTimeout(() => this.endHeadStart(), this.deps.headStartMs ?? HEAD_START_MS);
      this.headStartTimer.unref?.();
    }
    const slots = this.headStartOver ? OPENING_AT_ONCE : 1;
    while (this.opening < slots && this.pending.length) void this.openQueued();
  }

  /** The other hosts open now: the first row has its status, or its host answered offline, or the head start ran out. */
  endHeadStart(): void {
    if (this.headStartOver) return;
    this.headStartOver = true;
    clearTimeout(this.headStartTimer);
    for (const w of this.rowWaiters.splice(0)) w();
    if (this.started && !this.disposed) this.connectAll();
  }

  /** During the head start: end it once a host's row has its status. */
  noticeChange(): void {
    if (!this.headStartOver && this.started && this.registry.all().some((r) => r.snapshot.connection === 'online' && r.snapshot.status)) this.endHeadStart();
  }

  private async openQueued(): Promise<void> {
    this.opening++;
    try {
      for (let rec = this.pending.shift(); rec && !this.disposed; rec = this.pending.shift()) {
        // The host may have left the list while it waited.
        if (this.registry.get(rec.snapshot.name) !== rec) continue;
        // A host that cannot be opened is shown offline by connect(); the queue goes on.
        await this.connect(rec).catch(() => undefined);
        // The place frees when the host answers or fails, or after a while for a slow one.
        const session = rec.session;
        if (session && session.state.state === 'connecting') await waitSettled(session, OPENING_SLOT_MS);
        // The head start's one opener stops after its host: endHeadStart() fills every place.
        if (!this.headStartOver) break;
      }
    } finally {
      this.opening--;
    }
  }

  /** Open the record's session unless one is open for the same entry. */
  async connect(rec: HostRecord): Promise<void> {
    const entry = rec.snapshot.entry;
    if (!entry || this.disposed) return;
    const key = JSON.stringify(entry);
    if (rec.session && rec.sessionKey === key) return;
    this.close(rec);
    let endpoint: AgentEndpoint;
    try {
      endpoint = parseAddress(entry.name, entry.address, entry);
    } catch (err) {
      this.registry.update(rec, { connection: 'offline', problem: (err as Error).message, problemCode: undefined });
      this.endHeadStart(); // no status is coming for this row
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
        this.registry.update(rec, { status, lastSeen: new Date().toISOString() });
        this.listener.hostStatus(rec, status, before);
      }),
      session.onOpEvent((e) => this.listener.opEvent(rec, e)),
    );
    this.onSessionState(rec, session, session.state);
  }

  close(rec: HostRecord): void {
    for (const u of rec.unsubscribe.splice(0)) u();
    rec.session?.close();
    rec.session = undefined;
    rec.sessionKey = undefined;
  }

  private onSessionState(rec: HostRecord, session: AgentSession, s: SessionState): void {
    if (rec.session !== session) return;
    if (s.state === 'online') {
      this.registry.update(rec, { connection: 'online', problem: undefined, problemCode: undefined, agentVersion: s.welcome.agent.version, lastSeen: new Date().toISOString() });
      this.listener.online(rec);
    } else if (s.state === 'offline') {
      this.registry.update(rec, { connection: 'offline', problem: s.reason, problemCode: s.code });
      this.endHeadStart(); // no status is coming for this row
    }
    // 'connecting' changes nothing shown: an offline host stays offline (with its reason)
    // while the session retries, so the tree does not flicker on every backoff round.
  }

  /** Close and reopen one host's session (e.g. after its token changed). */
  async reconnect(host: string): Promise<void> {
    const rec = this.registry.get(host);
    if (!rec) return;
    this.close(rec);
    if (this.started) await this.connect(rec);
  }

  /** Try again now for hosts that are offline (Refresh): a fresh session with the current token. */
  async retryOffline(host?: string): Promise<void> {
    if (!this.started) return;
    const recs = host ? [this.registry.get(host)].filter((r): r is HostRecord => !!r) : this.registry.all();
    await Promise.all(recs.filter((r) => r.snapshot.entry && r.snapshot.connection === 'offline').map((r) => this.reconnect(r.snapshot.name)));
  }

  /**
   * The live session of a configured host. An offline host gets one fresh connection attempt
   * (with the current token) and the command fails fast with the reason if that fails too.
   */
  async session(host: string): Promise<AgentSession> {
    const rec = this.registry.get(host);
    if (!rec) throw new Error(`host ${host} is not in nixfleet.hosts nor in the workspace flake: add it with "NixFleet: Add Host"`);
    if (!rec.snapshot.entry) throw new Error(`host ${host} has no agent configured: use "NixFleet: Add Host" to give its agent's address`);
    await this.start();
    await this.connect(rec);
    if (rec.session?.state.state === 'offline') await this.reconnect(host);
    const session = rec.session;
    if (!session) throw new Error(`host ${host}: ${rec.snapshot.problem ?? 'no session'}`);
    if (session.state.state === 'online') return session;
    const waitMs = this.deps.connectWaitMs ?? 15_000;
    const outcome = await waitSettled(session, waitMs);
    if (outcome.state !== 'online' || rec.session !== session) {
      const reason = outcome.state === 'offline' ? outcome.reason : `no answer within ${Math.round(waitMs / 1000)} s`;
      // A refused token is fixed by Set Agent Token: the code lets the error offer it (src/flows/fixes.ts).
      if (outcome.state === 'offline' && outcome.code === 'unauthorized') throw new AgentRequestError(`host ${host} is offline (${reason})`, 'unauthorized', host);
      throw new Error(`host ${host} is offline (${reason}): check that its agent runs and is reachable at ${rec.snapshot.entry.address}, then retry`);
    }
    return session;
  }

  /**
   * A new session to `host` besides its usual one, online, for one exchange (magic rollback's
   * confirmation must come over a connection opened after the activation). The caller closes it.
   */
  async openFresh(host: string, waitMs = 15_000): Promise<AgentSession> {
    const entry = this.registry.get(host)?.snapshot.entry;
    if (!entry) throw new Error(`host ${host} has no agent configured`);
    const token = await this.deps.getToken(host).catch(() => undefined);
    const session = this.deps.openSession(entry, parseAddress(entry.name, entry.address, entry), token);
    const state = await waitSettled(session, waitMs);
    if (state.state !== 'online') {
      session.close();
      throw new Error(state.state === 'offline' ? state.reason : 'no answer');
    }
    return session;
  }

  dispose(): void {
    this.disposed = true;
    this.endHeadStart(); // releases firstRow()'s waiters; opens nothing once disposed
    for (const rec of this.registry.all()) this.close(rec);
  }
}
