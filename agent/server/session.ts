// One client connection, whatever carries it (WebSocket or stdio): handshake, frame
// validation, request dispatch, subscriptions. An invalid frame is answered with a
// structured error and the connection stays up.
//
// Memory per client is bounded for all its traffic: while its unflushed output (replies,
// events, journal frames) is above the high-water mark, or it has MAX_IN_FLIGHT requests
// being answered, the session stops reading its requests (the transport pauses the
// socket or stdin; frames already read wait in a small inbox) and subscriptions stop
// reading journals. A client that still ends up holding more than HARD_LIMIT (events it
// never reads) is dropped, and everything it held is released with it.
import {
  MAX_FRAME_BYTES,
  clientNameOf,
  PROTOCOL_VERSION,
  helloMessage,
  printable,
  requestMessage,
  type ClientIdentity,
  type ErrorCode,
  type OpInfo,
  type RequestMessage,
} from '../../protocol';
import { OpRequestError } from '../runner/manager';
import type { AgentCore, SessionLike } from './core';
import { Subscription } from './subscription';

/** What a transport gives a session. */
export interface SessionTransport {
  /** Send one frame; `flushed` runs once the transport handed it to the OS. */
  send(frame: string | Buffer, flushed: () => void): void;
  close(reason: string): void;
  /** Drop the client at once, discarding what it has not read. */
  abort(): void;
  /** Stop / restart reading the client's frames (its requests wait in the OS buffers). */
  pauseInput(): void;
  resumeInput(): void;
  /**
   * The transport delivers journals itself (the broker's journal stream): op.subscribe then
   * only answers the op's record and streams nothing, so no line reaches the client twice.
   */
  readonly journalsElsewhere?: (opId: string) => void;
}

export interface SessionAuth {
  /** `token:<prefix>`, `stdio:<user>`, or `none` for an unauthenticated listener. */
  auth: string;
  address?: string;
  /** Who refusals are counted against (rate limit): the peer's IP address; `auth` when unset. */
  source?: string;
  /**
   * Count refusals per client name under `source`: many controllers share one source there
   * (the broker does not tell the agent which connection published a frame), and one noisy
   * controller must not use up the limit that lets another's refusals be recorded.
   */
  sourcePerClient?: boolean;
  authenticated: boolean;
}

/** Requests that change or steer the host: a refusal of one is an audited attempt. */
const AUDITED_REQUESTS = new Set(['op.start', 'op.cancel', 'op.confirm']);
/** Why a refused request is audited: an attempt the agent turned down, not a failure. */
const REFUSAL_CODES = new Set<ErrorCode>(['busy', 'unauthorized', 'conflict', 'invalid', 'protocol']);

const MiB = 1024 * 1024;
/** Unflushed output above which reading (requests, journals) pauses, and below which it resumes. */
const HIGH_WATER = 4 * MiB;
const LOW_WATER = 1 * MiB;
/** Requests of one client answered at once (status, generations wait for the disk). */
const MAX_IN_FLIGHT = 8;
/** Unflushed output plus unread requests beyond which the client is dropped. */
const HARD_LIMIT = 32 * MiB;

type ReqId = string | number;

export class Session implements SessionLike {
  welcomed = false;
  private clientName = '';
  private pending = 0;
  /** Requests being answered (their reply is not written yet). */
  private inFlight = 0;
  /** Frames read while the input was held, in arrival order. */
  private inbox: string[] = [];
  private inboxBytes = 0;
  private inputPaused = false;
  private readonly subs = new Map<string, Subscription>();
  private closed = false;
  readonly connectedAt = Date.now();

  constructor(
    private readonly core: AgentCore,
    private readonly transport: SessionTransport,
    private readonly auth: SessionAuth,
  ) {
    core.sessions.add(this);
  }

  get identity(): ClientIdentity {
    return { name: this.clientName || 'unknown', auth: this.auth.auth, ...(this.auth.address ? { address: this.auth.address } : {}) };
  }

  // ------------------------------------------------------------------ output

  private write(text: string | Buffer): void {
    if (this.closed) return;
    const size = text.length;
    this.pending += size;
    this.transport.send(text, () => {
      this.pending -= size;
      if (this.pending < LOW_WATER) {
        for (const s of this.subs.values()) s.kick();
        this.drainInbox();
      }
    });
    if (this.pending > HIGH_WATER) this.holdInput();
    this.enforceHardLimit();
  }

  /** Too much unread output or too many requests being answered: read no more for now. */
  private get inputHeld(): boolean {
    return this.pending > (this.inputPaused ? LOW_WATER : HIGH_WATER) || this.inFlight >= MAX_IN_FLIGHT;
  }

  private holdInput(): void {
    if (this.inputPaused || this.closed) return;
    this.inputPaused = true;
    this.transport.pauseInput();
  }

  /** Answer the frames that waited, then read again once nothing holds the input. */
  private drainInbox(): void {
    while (!this.closed && this.inbox.length && !this.inputHeld) {
      const text = this.inbox.shift()!;
      this.inboxBytes -= text.length;
      this.process(text);
    }
    if (this.inputPaused && !this.closed && !this.inbox.length && !this.inputHeld) {
      this.inputPaused = false;
      this.transport.resumeInput();
    }
  }

  private enforceHardLimit(): void {
    const held = this.pending + this.inboxBytes;
    if (this.closed || held <= HARD_LIMIT) return;
    const who = `${this.identity.name} (${this.identity.auth}${this.identity.address ? ' from ' + this.identity.address : ''})`;
    process.stderr.write(
      `nixfleet-agent: dropped the connection of ${who}: it left ${(held / MiB).toFixed(1)} MiB of replies, events and requests unread (limit ${HARD_LIMIT / MiB} MiB); a client must read what it is sent\n`,
    );
    this.transport.abort();
    this.detach();
  }

  sendEvent(msg: object): void {
    this.write(JSON.stringify(msg));
  }

  private reply(id: ReqId, result: unknown): void {
    this.write(JSON.stringify({ type: 'result', id, result }));
  }

  private fail(id: ReqId | undefined, code: ErrorCode, message: string): void {
    this.write(JSON.stringify({ type: 'error', ...(id !== undefined ? { id } : {}), error: { code, message } }));
  }

  private readonly sink = {
    congested: () => this.pending > HIGH_WATER,
    sendRaw: (frame: Buffer) => this.write(frame),
    sendEvent: (msg: object) => this.sendEvent(msg),
  };

  opEnded(info: OpInfo): Promise<void> | undefined {
    return this.subs.get(info.id)?.ended(info);
  }

  // ------------------------------------------------------------------ input

  /** A frame larger than MAX_FRAME_BYTES that the transport had to discard. */
  oversize(bytes: number): void {
    this.fail(undefined, 'frame-too-large', `frame of ${bytes} bytes refused: the limit is ${MAX_FRAME_BYTES} bytes`);
  }

  handleFrame(text: string): void {
    if (this.closed) return;
    if (this.inbox.length || this.inputHeld) {
      // Read before the transport paused (one socket read or stdin chunk at most).
      this.inbox.push(text);
      this.inboxBytes += text.length;
      this.holdInput();
      this.enforceHardLimit();
      return;
    }
    this.process(text);
  }

  private process(text: string): void {
    if (Buffer.byteLength(text, 'utf8') > MAX_FRAME_BYTES) return this.oversize(Buffer.byteLength(text, 'utf8'));
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return this.fail(undefined, 'bad-frame', 'frame is not valid JSON: send one JSON object per frame');
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      return this.fail(undefined, 'bad-frame', 'frame is not a JSON object: send one JSON object per frame');
    }
    const raw = msg as Record<string, unknown>;
    const id = (typeof raw.id === 'number' && Number.isSafeInteger(raw.id) && raw.id >= 0) || (typeof raw.id === 'string' && raw.id.length <= 64) ? (raw.id as ReqId) : undefined;
    if (raw.type === 'hello') return this.hello(raw);
    if (!this.welcomed) {
      const message = 'the first message must be hello ({"type":"hello","protocol":1,"client":{...}})';
      this.refused(raw, 'protocol', message);
      return this.fail(id, 'protocol', message);
    }
    const parsed = requestMessage.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = issue.path.length ? issue.path.join('.') : 'type';
      const keys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.map((k) => printable(k, 40)).join(', ')})` : '';
      const message = `${printable(String(raw.type ?? 'message'), 40)}: ${where}: ${issue.message}${keys}`;
      this.refused(raw, 'invalid', message);
      return this.fail(id, 'invalid', message);
    }
    this.inFlight++;
    void this.dispatch(parsed.data).finally(() => {
      this.inFlight--;
      this.drainInbox();
    });
  }

  private hello(raw: Record<string, unknown>): void {
    if (this.welcomed) return this.fail(undefined, 'protocol', 'hello was already received on this connection');
    const parsed = helloMessage.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return this.fail(undefined, 'invalid', `hello: ${issue.path.join('.') || 'message'}: ${issue.message}`);
    }
    if (parsed.data.protocol !== PROTOCOL_VERSION) {
      this.fail(undefined, 'protocol', `protocol version ${parsed.data.protocol} is not supported: this agent speaks ${PROTOCOL_VERSION}; update the extension or the agent so they match`);
      return this.close('protocol version mismatch');
    }
    this.clientName = clientNameOf(parsed.data.client.name);
    this.welcomed = true;
    this.write(JSON.stringify(this.core.welcome()));
  }

  private async dispatch(req: RequestMessage): Promise<void> {
    try {
      switch (req.type) {
        case 'status':
          return this.reply(req.id, await this.core.status());
        case 'generations':
          return this.reply(req.id, { generations: await this.core.generations() });
        case 'op.start': {
          const r = await this.core.manager.start(
            { op: req.op, kind: req.kind, params: req.params, client: this.identity, magicRollback: req.magicRollback },
            { authenticated: this.auth.authenticated },
          );
          return this.reply(req.id, r);
        }
        case 'op.cancel':
          this.requireAuth('cancel an op');
          return this.reply(req.id, { op: this.core.manager.cancel(req.op) });
        case 'op.confirm':
          this.requireAuth('confirm an op');
          return this.reply(req.id, { op: this.confirm(req.op) });
        case 'op.subscribe':
          return await this.subscribe(req.id, req.op, req.fromSeq);
        case 'op.unsubscribe':
          this.subs.get(req.op)?.close();
          this.subs.delete(req.op);
          return this.reply(req.id, {});
        case 'ops.list':
          return this.reply(req.id, { ops: this.core.manager.list(req.limit) });
      }
    } catch (err) {
      if (err instanceof OpRequestError) {
        if (REFUSAL_CODES.has(err.code)) this.refused(req, err.code, err.message);
        return this.fail(req.id, err.code, err.message);
      }
      return this.fail(req.id, 'failed', `${req.type} failed on host ${this.core.config.host}: ${(err as Error).message}`);
    } finally {
      // A controller runs ops on this host: more are likely to follow (a deploy's build, then
      // its switch; the next edit's switch), so keep a worker loaded for them (standbyWorker
      // "auto"). Reads alone (an editor listing its fleet) start none.
      if (req.type === 'op.start' && this.auth.authenticated) this.core.manager.controllerActive();
    }
  }

  /** Audit a refused op.start / op.cancel / op.confirm (rate-limited by the core's RefusalLog). */
  private refused(raw: Record<string, unknown> | RequestMessage, code: ErrorCode, reason: string): void {
    const r = raw as Record<string, unknown>;
    if (typeof r.type !== 'string' || !AUDITED_REQUESTS.has(r.type)) return;
    let params: string | undefined;
    if (r.params !== undefined) {
      try {
        params = JSON.stringify(r.params).slice(0, 600);
      } catch {
        params = '(not serialisable)';
      }
    }
    this.core.refusals.record({
      source: this.refusalSource(),
      client: this.identity,
      request: r.type,
      ...(typeof r.op === 'string' ? { op: printable(r.op, 80) } : {}),
      ...(typeof r.kind === 'string' ? { kind: printable(r.kind, 40) } : {}),
      ...(params !== undefined ? { params } : {}),
      code,
      reason,
    });
  }

  /** The rate-limit bucket a refusal counts against (see SessionAuth.source). */
  private refusalSource(): string {
    const source = this.auth.source ?? this.auth.auth;
    return this.auth.sourcePerClient ? `${source} ${this.clientName || 'before hello'}` : source;
  }

  private requireAuth(what: string): void {
    if (!this.auth.authenticated) throw new OpRequestError('unauthorized', `only an authenticated controller may ${what} on host ${this.core.config.host}`);
  }

  /** Magic rollback needs proof of reach after the activation: a connection opened since. */
  private confirm(opId: string): OpInfo {
    const info = this.core.manager.get(opId);
    if (info?.confirmDeadline) {
      const activatedAt = Date.parse(info.confirmDeadline) - this.core.config.confirmTimeout * 1000;
      if (this.connectedAt < activatedAt) {
        throw new OpRequestError('failed', `confirm op ${opId} over a new connection opened after the activation: that proves the controller can still reach host ${this.core.config.host}`);
      }
    }
    return this.core.manager.confirm(opId);
  }

  private async subscribe(id: ReqId, opId: string, fromSeq: number): Promise<void> {
    const info = this.core.manager.get(opId);
    if (!info) return this.fail(id, 'not-found', `no op ${opId} on host ${this.core.config.host}`);
    if (this.transport.journalsElsewhere) {
      this.transport.journalsElsewhere(opId);
      return this.reply(id, { op: info });
    }
    this.subs.get(opId)?.close();
    const sub = new Subscription(this.core.manager, opId, fromSeq, info, this.sink, () => {
      if (this.subs.get(opId) === sub) this.subs.delete(opId);
    });
    this.subs.set(opId, sub);
    this.reply(id, { op: info });
    await sub.start();
  }

  close(reason: string): void {
    this.transport.close(reason);
    this.detach();
  }

  /** The transport went away. */
  detach(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subs.values()) s.close();
    this.subs.clear();
    this.inbox = [];
    this.inboxBytes = 0;
    this.core.sessions.delete(this);
  }
}
