// One client connection, whatever carries it (WebSocket or stdio): handshake, frame
// validation, request dispatch, subscriptions. An invalid frame is answered with a
// structured error and the connection stays up.
import {
  MAX_FRAME_BYTES,
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
  authenticated: boolean;
}

/** Requests that change or steer the host: a refusal of one is an audited attempt. */
const AUDITED_REQUESTS = new Set(['op.start', 'op.cancel', 'op.confirm']);
/** Why a refused request is audited: an attempt the agent turned down, not a failure. */
const REFUSAL_CODES = new Set<ErrorCode>(['busy', 'unauthorized', 'conflict', 'invalid', 'protocol']);

/** Unflushed output above which subscriptions pause, and below which they resume. */
const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;

type ReqId = string | number;

export class Session implements SessionLike {
  welcomed = false;
  private clientName = '';
  private pending = 0;
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
      if (this.pending < LOW_WATER) for (const s of this.subs.values()) s.kick();
    });
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

  opEnded(info: OpInfo): void {
    this.subs.get(info.id)?.ended(info);
  }

  // ------------------------------------------------------------------ input

  /** A frame larger than MAX_FRAME_BYTES that the transport had to discard. */
  oversize(bytes: number): void {
    this.fail(undefined, 'frame-too-large', `frame of ${bytes} bytes refused: the limit is ${MAX_FRAME_BYTES} bytes`);
  }

  handleFrame(text: string): void {
    if (this.closed) return;
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
    void this.dispatch(parsed.data);
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
    this.clientName = parsed.data.client.name.replace(/[^\x20-\x7e]/g, '?');
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
      source: this.auth.source ?? this.auth.auth,
      client: this.identity,
      request: r.type,
      ...(typeof r.op === 'string' ? { op: printable(r.op, 80) } : {}),
      ...(typeof r.kind === 'string' ? { kind: printable(r.kind, 40) } : {}),
      ...(params !== undefined ? { params } : {}),
      code,
      reason,
    });
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
    this.core.sessions.delete(this);
  }
}
