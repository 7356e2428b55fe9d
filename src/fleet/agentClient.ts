// The controller's client for one agent (no VS Code here): used by the extension, deploy
// logic, tests and benches. It does the handshake, typed requests with timeouts,
// reconnects with bounded exponential backoff and jitter, and keeps op subscriptions
// alive across reconnects and agent restarts: every output line is delivered once, in
// seq order, with no gap (lines at or below the last seen seq are dropped; a resumed
// subscription asks for seq > last seen).
import {
  PROTOCOL_VERSION,
  agentMessage,
  parseAdditive,
  type AgentMessage,
  type Generation,
  type HostStatus,
  type OpInfo,
  type OpKind,
  type OutputLine,
  type RequestType,
  type ResultOf,
  type WelcomeMessage,
} from '../../protocol';
import { Emitter } from './emitter';
import { OutputTracker } from './outputTracker';
import { AgentRequestError } from './session';
import type { Transport, TransportFactory } from './transport';

export { AgentRequestError };
export type { AgentErrorCode } from './session';

export interface ReconnectOptions {
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Give up after this many failed attempts in a row (default: never). */
  maxAttempts?: number;
}

export interface AgentClientOptions {
  transport: TransportFactory;
  clientName: string;
  clientVersion?: string;
  requestTimeoutMs?: number;
  /** false: do not reconnect. */
  reconnect?: ReconnectOptions | false;
}

export type ClientState =
  | { state: 'connecting' }
  | { state: 'online'; welcome: WelcomeMessage }
  | { state: 'offline'; reason: string; fatal: boolean; code?: 'unauthorized' };

type Fields<T extends RequestType> = Omit<Extract<import('../../protocol').RequestMessage, { type: T }>, 'type' | 'id'>;

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

interface SubState {
  /** Resolves the first subscribe call; later resubscribes after reconnect are silent. */
  active: boolean;
}

export class AgentClient {
  readonly onState = new Emitter<ClientState>();
  readonly onWelcome = new Emitter<WelcomeMessage>();
  /** New lines of a subscribed op: each line once, in seq order. */
  readonly onOutput = new Emitter<{ op: string; lines: OutputLine[] }>();
  readonly onOpState = new Emitter<OpInfo>();
  readonly onOpEnd = new Emitter<OpInfo>();
  readonly onHostStatus = new Emitter<HostStatus>();
  /** An error frame not tied to a request (bad frame, oversize, …). */
  readonly onAgentError = new Emitter<{ code: string; message: string }>();
  private transport: Transport | undefined;
  private current: ClientState = { state: 'connecting' };
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly subs = new Map<string, SubState>();
  /** Highest seq delivered per subscribed op. */
  private readonly delivered = new OutputTracker();
  private attempts = 0;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<{ resolve(w: WelcomeMessage): void; reject(e: Error): void }>();
  private readonly timeoutMs: number;

  constructor(private readonly opts: AgentClientOptions) {
    this.timeoutMs = opts.requestTimeoutMs ?? 30_000;
  }

  get state(): ClientState {
    return this.current;
  }

  /** Connect (and keep reconnecting); resolves with the first welcome, rejects on a fatal failure. */
  connect(): Promise<WelcomeMessage> {
    if (this.closed) return Promise.reject(new AgentRequestError('the client was closed', 'closed'));
    if (!this.transport && !this.retryTimer) this.open();
    return this.online();
  }

  /** Resolves once online (immediately if already). */
  online(): Promise<WelcomeMessage> {
    if (this.current.state === 'online') return Promise.resolve(this.current.welcome);
    if (this.current.state === 'offline' && (this.current.fatal || this.closed)) {
      return Promise.reject(new AgentRequestError(this.current.reason, 'offline'));
    }
    return new Promise((resolve, reject) => this.waiters.add({ resolve, reject }));
  }

  private setState(s: ClientState): void {
    this.current = s;
    this.onState.fire(s);
    if (s.state === 'online') {
      for (const w of this.waiters) w.resolve(s.welcome);
      this.waiters.clear();
    } else if (s.state === 'offline' && (s.fatal || this.closed)) {
      for (const w of this.waiters) w.reject(new AgentRequestError(s.reason, 'offline'));
      this.waiters.clear();
    }
  }

  private open(): void {
    this.retryTimer = undefined;
    this.setState({ state: 'connecting' });
    let t: Transport;
    try {
      t = this.opts.transport();
    } catch (err) {
      return this.lost((err as Error).message, true);
    }
    this.transport = t;
    let welcomed = false;
    t.onOpen.on(() => {
      t.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, client: { name: this.opts.clientName, version: this.opts.clientVersion ?? '0' } }));
    });
    t.onMessage.on((text) => {
      if (this.transport !== t) return;
      const msg = this.parse(text);
      if (!msg) return;
      if (!welcomed) {
        if (msg.type === 'welcome') {
          welcomed = true;
          this.attempts = 0;
          this.setState({ state: 'online', welcome: msg });
          this.onWelcome.fire(msg);
          this.resubscribe();
        } else if (msg.type === 'error') {
          // A refused hello (protocol version) cannot be fixed by retrying.
          this.lost(`host refused the handshake: ${msg.error.message}`, msg.error.code === 'protocol');
        }
        return;
      }
      this.dispatch(msg);
    });
    t.onClose.on(({ reason, fatal, code }) => {
      if (this.transport !== t) return;
      this.lost(reason, fatal, code);
    });
  }

  private parse(text: string): AgentMessage | undefined {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      this.onAgentError.fire({ code: 'bad-frame', message: 'the agent sent a frame that is not JSON' });
      return undefined;
    }
    // Output frames are the bulk of the traffic: a structural check keeps streaming fast.
    const r = raw as { type?: unknown; op?: unknown; lines?: unknown };
    if (r && r.type === 'op.output' && typeof r.op === 'string' && Array.isArray(r.lines)) {
      for (const l of r.lines as OutputLine[]) {
        if (!l || typeof l.seq !== 'number' || typeof l.text !== 'string') {
          this.onAgentError.fire({ code: 'bad-frame', message: 'the agent sent a malformed op.output frame' });
          return undefined;
        }
      }
      return raw as AgentMessage;
    }
    const parsed = parseAdditive(agentMessage, raw);
    if (!parsed.success) {
      this.onAgentError.fire({ code: 'invalid', message: `the agent sent an invalid message: ${parsed.error.issues[0]?.message}` });
      return undefined;
    }
    return parsed.data;
  }

  private dispatch(msg: AgentMessage): void {
    switch (msg.type) {
      case 'result':
      case 'error': {
        const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
        if (!p) {
          if (msg.type === 'error') this.onAgentError.fire({ code: msg.error.code, message: msg.error.message });
          return;
        }
        this.pending.delete(msg.id as number);
        clearTimeout(p.timer);
        if (msg.type === 'result') p.resolve(msg.result);
        else p.reject(new AgentRequestError(msg.error.message, msg.error.code));
        return;
      }
      case 'op.output': {
        const fresh = this.subs.has(msg.op) ? this.delivered.accept(msg.op, msg.lines).fresh : msg.lines;
        if (!fresh.length) return;
        this.onOutput.fire({ op: msg.op, lines: fresh });
        return;
      }
      case 'op.state':
        this.onOpState.fire(msg.op);
        return;
      case 'op.end':
        this.dropSub(msg.op.id);
        this.onOpEnd.fire(msg.op);
        return;
      case 'host.status':
        this.onHostStatus.fire(msg.status);
        return;
      case 'welcome':
        return;
    }
  }

  private lost(reason: string, fatal: boolean, code?: 'unauthorized'): void {
    const t = this.transport;
    this.transport = undefined;
    t?.dispose();
    t?.close();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new AgentRequestError(`connection to the agent lost before it answered: ${reason}`, 'disconnected'));
      this.pending.delete(id);
    }
    const r = this.opts.reconnect === false ? undefined : (this.opts.reconnect ?? {});
    const giveUp = fatal || this.closed || !r || this.attempts >= (r.maxAttempts ?? Infinity);
    this.setState({ state: 'offline', reason, fatal: giveUp, ...(code ? { code } : {}) });
    if (giveUp) return;
    const base = r.initialDelayMs ?? 250;
    const max = r.maxDelayMs ?? 10_000;
    const delay = Math.min(max, base * 2 ** Math.min(this.attempts, 20));
    this.attempts++;
    // Full jitter between half and all of the delay spreads a fleet's reconnects.
    this.retryTimer = setTimeout(() => this.open(), delay / 2 + Math.random() * (delay / 2));
  }

  private resubscribe(): void {
    for (const [op, sub] of this.subs) {
      if (!sub.active) continue;
      this.send('op.subscribe', { op, fromSeq: this.delivered.lastSeq(op) } as Fields<'op.subscribe'>).catch(() => {
        /* the next reconnect retries */
      });
    }
  }

  private async send<T extends RequestType>(type: T, fields: Fields<T>): Promise<ResultOf[T]> {
    const t = this.transport;
    if (!t || this.current.state !== 'online') throw new AgentRequestError('not connected to the agent', 'disconnected');
    const id = this.nextId++;
    return new Promise<ResultOf[T]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AgentRequestError(`the agent did not answer ${type} within ${this.timeoutMs} ms`, 'timeout'));
      }, this.timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      t.send(JSON.stringify({ type, id, ...fields }));
    });
  }

  /** Send a request, waiting (up to the request timeout) for the connection if it is down. */
  async request<T extends RequestType>(type: T, fields: Fields<T>): Promise<ResultOf[T]> {
    if (this.closed) throw new AgentRequestError('the client was closed', 'closed');
    if (this.current.state !== 'online') {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.online(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new AgentRequestError(`not connected to the agent within ${this.timeoutMs} ms`, 'timeout')), this.timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
    }
    return this.send(type, fields);
  }

  status(): Promise<HostStatus> {
    return this.request('status', {} as Fields<'status'>);
  }

  async generations(): Promise<Generation[]> {
    return (await this.request('generations', {} as Fields<'generations'>)).generations;
  }

  startOp(op: string, kind: OpKind, params: Record<string, unknown> = {}, magicRollback?: boolean): Promise<ResultOf['op.start']> {
    return this.request('op.start', { op, kind, params, ...(magicRollback === undefined ? {} : { magicRollback }) } as Fields<'op.start'>);
  }

  async cancelOp(op: string): Promise<OpInfo> {
    return (await this.request('op.cancel', { op } as Fields<'op.cancel'>)).op;
  }

  async confirmOp(op: string): Promise<OpInfo> {
    return (await this.request('op.confirm', { op } as Fields<'op.confirm'>)).op;
  }

  /**
   * Follow an op's output from `fromSeq` (default: where this client left off, else 0).
   * Output arrives as 'output' events; 'op.end' ends it. Survives reconnects.
   */
  async subscribe(op: string, fromSeq?: number): Promise<OpInfo> {
    if (!this.subs.has(op)) this.delivered.resumeFrom(op, 0);
    if (fromSeq !== undefined) this.delivered.resumeFrom(op, fromSeq);
    this.subs.set(op, { active: true });
    try {
      return (await this.request('op.subscribe', { op, fromSeq: this.delivered.lastSeq(op) } as Fields<'op.subscribe'>)).op;
    } catch (err) {
      if (err instanceof AgentRequestError && err.code === 'not-found') this.dropSub(op);
      throw err;
    }
  }

  private dropSub(op: string): void {
    this.subs.delete(op);
    this.delivered.forget(op);
  }

  async unsubscribe(op: string): Promise<void> {
    this.dropSub(op);
    if (this.current.state === 'online') await this.request('op.unsubscribe', { op } as Fields<'op.unsubscribe'>);
  }

  /** Highest seq delivered for `op` (0 when none). */
  lastSeq(op: string): number {
    return this.subs.has(op) ? this.delivered.lastSeq(op) : 0;
  }

  async listOps(limit = 50): Promise<OpInfo[]> {
    return (await this.request('ops.list', { limit } as Fields<'ops.list'>)).ops;
  }

  /**
   * Subscribe and collect an op's whole output until op.end, across reconnects.
   * Resolves with the final record and every line (seq 1..lastSeq, no gap).
   */
  async follow(op: string, onLines?: (lines: OutputLine[]) => void): Promise<{ op: OpInfo; lines: OutputLine[] }> {
    const lines: OutputLine[] = [];
    return new Promise((resolve, reject) => {
      const onOutput = ({ op: id, lines: ls }: { op: string; lines: OutputLine[] }) => {
        if (id !== op) return;
        if (onLines) onLines(ls);
        else lines.push(...ls);
      };
      const onEnd = (info: OpInfo) => {
        if (info.id !== op) return;
        cleanup();
        resolve({ op: info, lines });
      };
      const onState = (s: ClientState) => {
        if (s.state === 'offline' && s.fatal) {
          cleanup();
          reject(new AgentRequestError(s.reason, 'offline'));
        }
      };
      const offs = [this.onOutput.on(onOutput), this.onOpEnd.on(onEnd), this.onState.on(onState)];
      const cleanup = () => offs.forEach((off) => off());
      this.subscribe(op).catch((err) => {
        // A dropped connection is resumed by the reconnect; anything else is final.
        if (err instanceof AgentRequestError && err.code === 'disconnected') return;
        cleanup();
        reject(err);
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.lost('closed by the client', true);
    this.transport = undefined;
  }
}
