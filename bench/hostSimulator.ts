// HostSimulator — not an agent: it speaks the real protocol over the real broker so a
// 2-core machine can show 1000 hosts. Each simulated host dials the broker on its own
// connection with its own host credentials (the server enforces the same permissions as
// for a real agent), heartbeats its record into the status bucket, answers protocol
// sessions on its session subjects, and runs "ops" that take a set time and copy their
// journal lines into the journal stream, then the final record, as agent/broker/serve.ts
// and its parts do. Nothing is built or activated: a switch makes a generation number.
// Subjects, headers, records and messages are those of protocol/ (validated with its
// schemas); nothing here is a second definition of the contract.
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import {
  CAPABILITIES,
  FINAL_OP_STATES,
  PROTOCOL_VERSION,
  clientNameOf,
  helloMessage,
  opParams,
  requestMessage,
  type ErrorCode,
  type HostStatus,
  type OpInfo,
  type OutputLine,
  type RequestMessage,
} from '../protocol';
import { HEADERS, HEARTBEAT_MS, STATUS_BUCKET, hostRecord, hostToken, subjects, type HostRecord } from '../protocol/broker';
import { credentialsAuthenticator } from '../protocol/brokerCredentials';
import { AGENT_VERSION } from '../agent/version';

export interface HostSimulatorOptions {
  servers: string[];
  /** The host's own credentials (an nkey seed from broker-config). */
  credentials: string;
  /** How long a simulated op runs, and how many journal lines it writes meanwhile. */
  opMs: number;
  opLines: number;
  /** Magic rollback: how long an activated op waits for op.confirm (the agent's confirmTimeout). */
  confirmTimeoutS: number;
}

const SID_RE = /^[A-Za-z0-9]{1,64}$/;
/** Ops that act on the host take its lock, as the agent's manager does (actsOnHost). */
const READ_ONLY_KINDS = new Set(['build', 'test']);
/** How often a running op's lines are copied to the stream (the agent's pump polls every 500 ms). */
const PUMP_MS = 500;

interface SimSession {
  welcomed: boolean;
  clientName: string;
  connectedAt: number;
}

interface SimOp {
  info: OpInfo;
  lines: OutputLine[];
  published: number;
  confirmed?: () => void;
}

export class HostSimulator {
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private kv: KV | undefined;
  private readonly instance = randomBytes(9).toString('base64url');
  private readonly startedAt = new Date().toISOString();
  private readonly sessions = new Map<string, SimSession>();
  private readonly ops = new Map<string, SimOp>();
  private busy: OpInfo | undefined;
  private generation = 1;
  private revision = '0'.repeat(40);
  private timers: NodeJS.Timeout[] = [];
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    readonly host: string,
    private readonly o: HostSimulatorOptions,
  ) {}

  /** Dial (again after a refusal or a timeout, as the agent's bounded backoff does), then serve. */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attach();
      } catch (err) {
        await this.nc?.close().catch(() => {});
        if (attempt >= 8) throw new Error(`simulated host ${this.host} cannot reach the broker: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt * Math.random()));
      }
    }
  }

  private async attach(): Promise<void> {
    const nc = await connect({
      servers: this.o.servers,
      authenticator: credentialsAuthenticator(this.o.credentials, `credentials of simulated host ${this.host}`),
      name: `nixfleet host simulator ${this.host}`,
      inboxPrefix: subjects.hostInbox(this.host),
      maxReconnectAttempts: -1,
      pingInterval: 10_000,
      maxPingOut: 2,
    });
    this.nc = nc;
    this.js = jetstream(nc);
    this.kv = await new Kvm(this.js).open(STATUS_BUCKET);
    nc.subscribe(subjects.sessions(this.host), { callback: (err, msg) => void (err || this.onMessage(msg)) });
    await this.heartbeat();
    // Real agents start at random times: spread the heartbeats over the interval.
    const phase = setTimeout(() => {
      const t = setInterval(() => void this.heartbeat(), HEARTBEAT_MS);
      t.unref();
      this.timers.push(t);
    }, Math.random() * HEARTBEAT_MS);
    phase.unref();
    this.timers.push(phase);
  }

  private status(): HostStatus {
    return {
      host: this.host,
      platform: 'nixos',
      agentVersion: AGENT_VERSION,
      nixVersion: '2.8.0',
      switchMethod: 'direct',
      currentGeneration: this.generation,
      lastKnownWorking: this.generation,
      checkout: { path: `/etc/nixos/${this.host}`, revision: this.revision, branch: 'main', dirty: false },
      currentRevision: this.revision,
      ...(this.busy ? { busy: { op: this.busy.id, kind: this.busy.kind, since: this.busy.startedAt } } : {}),
      startedAt: this.startedAt,
    };
  }

  /** The status record, serialised as StatusPublisher does; checked against the contract. */
  heartbeat(online = true): Promise<void> {
    this.chain = this.chain.then(async () => {
      const record: HostRecord = hostRecord.parse({ host: this.host, online, instance: this.instance, heartbeatAt: new Date().toISOString(), status: this.status() });
      await this.kv!.put(hostToken(this.host), JSON.stringify(record)).catch(() => {});
    });
    return this.chain;
  }

  // ---------------------------------------------------------------- sessions (agent/broker/sessions.ts)

  private onMessage(msg: Msg): void {
    const sid = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
    if (!SID_RE.test(sid) || msg.reply !== subjects.reply(this.host, sid)) return;
    const h = msg.headers;
    const s = this.sessions.get(sid);
    if (h?.has(HEADERS.close)) return void this.sessions.delete(sid);
    if (!s && !h?.has(HEADERS.open)) return this.control(msg.reply, HEADERS.resume, '1', msg.data);
    if (h?.has(HEADERS.ping)) return this.control(msg.reply, HEADERS.pong, '1');
    const session = s ?? { welcomed: false, clientName: '', connectedAt: Date.now() };
    this.sessions.set(sid, session);
    this.frame(session, msg.reply, msg.string());
  }

  private control(subject: string, header: string, value: string, payload: Uint8Array | string = ''): void {
    const h = natsHeaders();
    h.set(header, value);
    this.send(subject, payload, h);
  }

  private send(subject: string, payload: Uint8Array | string, headers?: ReturnType<typeof natsHeaders>): void {
    try {
      this.nc?.publish(subject, payload, headers ? { headers } : undefined);
    } catch {
      /* closing */
    }
  }

  private reply(to: string, id: string | number, result: unknown): void {
    this.send(to, JSON.stringify({ type: 'result', id, result }));
  }

  private fail(to: string, id: string | number | undefined, code: ErrorCode, message: string): void {
    this.send(to, JSON.stringify({ type: 'error', ...(id !== undefined ? { id } : {}), error: { code, message } }));
  }

  /** Every welcomed session gets op.state, as AgentCore broadcasts it. */
  private broadcast(msg: object): void {
    const text = JSON.stringify(msg);
    for (const sid of this.sessions.keys()) if (this.sessions.get(sid)!.welcomed) this.send(subjects.reply(this.host, sid), text);
  }

  private frame(s: SimSession, to: string, text: string): void {
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return this.fail(to, undefined, 'bad-frame', 'frame is not valid JSON: send one JSON object per frame');
    }
    if (raw.type === 'hello') {
      const hello = helloMessage.safeParse(raw);
      if (!hello.success || hello.data.protocol !== PROTOCOL_VERSION) return this.fail(to, undefined, 'protocol', `hello refused by simulated host ${this.host}`);
      s.welcomed = true;
      s.clientName = clientNameOf(hello.data.client.name);
      return this.send(to, JSON.stringify({ type: 'welcome', protocol: PROTOCOL_VERSION, agent: { version: AGENT_VERSION }, host: this.host, platform: 'nixos', capabilities: [...CAPABILITIES, 'magic-rollback'], nixVersion: '2.8.0' }));
    }
    const id = typeof raw.id === 'string' || typeof raw.id === 'number' ? raw.id : undefined;
    if (!s.welcomed) return this.fail(to, id, 'protocol', 'the first message must be hello');
    const req = requestMessage.safeParse(raw);
    if (!req.success) return this.fail(to, id, 'invalid', `${String(raw.type)}: ${req.error.issues[0]?.message}`);
    this.request(s, to, req.data);
  }

  private request(s: SimSession, to: string, req: RequestMessage): void {
    switch (req.type) {
      case 'status':
        return this.reply(to, req.id, this.status());
      case 'generations':
        return this.reply(to, req.id, {
          generations: Array.from({ length: this.generation }, (_, i) => ({ generation: i + 1, path: `/nix/store/${'0'.repeat(32)}-nixos-system-${this.host}-${i + 1}`, createdAt: this.startedAt, current: i + 1 === this.generation, present: true, lastKnownWorking: i + 1 === this.generation })),
        });
      case 'op.start':
        return this.startOp(s, to, req);
      case 'op.subscribe': {
        // Journals are read from the stream (journalsElsewhere): only the record is answered.
        const op = this.ops.get(req.op);
        return op ? this.reply(to, req.id, { op: op.info }) : this.fail(to, req.id, 'not-found', `no op ${req.op} on host ${this.host}`);
      }
      case 'op.unsubscribe':
        return this.reply(to, req.id, {});
      case 'ops.list':
        return this.reply(to, req.id, { ops: [...this.ops.values()].map((o) => o.info).reverse().slice(0, req.limit) });
      case 'op.cancel': {
        const op = this.ops.get(req.op);
        if (!op) return this.fail(to, req.id, 'not-found', `no op ${req.op} on host ${this.host}`);
        if (!FINAL_OP_STATES.includes(op.info.state)) this.end(op, 'cancelled', 'cancelled by the controller', { generationBefore: this.generation, generationAfter: this.generation });
        return this.reply(to, req.id, { op: op.info });
      }
      case 'op.confirm': {
        const op = this.ops.get(req.op);
        if (!op?.info.confirmDeadline || !op.confirmed) return this.fail(to, req.id, 'failed', `op ${req.op} on host ${this.host} does not wait for a confirmation`);
        if (s.connectedAt < Date.parse(op.info.confirmDeadline) - this.o.confirmTimeoutS * 1000) return this.fail(to, req.id, 'failed', `confirm op ${req.op} over a new connection opened after the activation`);
        op.confirmed();
        return this.reply(to, req.id, { op: op.info });
      }
    }
  }

  private startOp(s: SimSession, to: string, req: Extract<RequestMessage, { type: 'op.start' }>): void {
    const known = this.ops.get(req.op);
    if (known) return this.reply(to, req.id, { op: known.info, existing: true });
    const params = opParams[req.kind].safeParse(req.params);
    if (!params.success) return this.fail(to, req.id, 'invalid', `op.start: params: ${params.error.issues[0]?.message}`);
    const acts = !READ_ONLY_KINDS.has(req.kind);
    if (acts && this.busy) return this.fail(to, req.id, 'busy', `busy: ${this.busy.kind} ${this.busy.id} is running on host ${this.host} since ${this.busy.startedAt}`);
    const info: OpInfo = { id: req.op, kind: req.kind, params: req.params, state: 'running', client: { name: s.clientName, auth: 'broker' }, startedAt: new Date().toISOString(), lastSeq: 0, agentVersion: AGENT_VERSION };
    const op: SimOp = { info, lines: [], published: 0 };
    this.ops.set(req.op, op);
    if (acts) this.busy = info;
    this.reply(to, req.id, { op: info, existing: false });
    this.broadcast({ type: 'op.state', op: info });
    void this.heartbeat();
    void this.run(op, req.magicRollback === true, (params.data as { rev?: string }).rev);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      this.timers.push(t);
    });
  }

  private async run(op: SimOp, magic: boolean, rev: string | undefined): Promise<void> {
    const step = this.o.opMs / Math.max(1, this.o.opLines);
    let nextPump = Date.now() + PUMP_MS;
    for (let i = 1; i <= this.o.opLines && !FINAL_OP_STATES.includes(op.info.state); i++) {
      await this.sleep(step);
      op.lines.push({ seq: i, stream: i % 10 === 0 ? 'info' : 'stdout', text: `simulated ${op.info.kind} of ${this.host}: step ${i} of ${this.o.opLines}`, time: new Date().toISOString() });
      op.info.lastSeq = i;
      if (Date.now() >= nextPump) {
        await this.pump(op);
        nextPump = Date.now() + PUMP_MS;
      }
    }
    if (FINAL_OP_STATES.includes(op.info.state)) return;
    const before = this.generation;
    const activates = op.info.kind === 'switch' || op.info.kind === 'force-rebuild' || op.info.kind === 'rollback';
    if (activates && magic) {
      const ok = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), this.o.confirmTimeoutS * 1000);
        this.timers.push(t);
        op.confirmed = () => {
          clearTimeout(t);
          resolve(true);
        };
        op.info.confirmDeadline = new Date(Date.now() + this.o.confirmTimeoutS * 1000).toISOString();
        this.broadcast({ type: 'op.state', op: op.info });
      });
      delete op.info.confirmDeadline;
      op.confirmed = undefined;
      if (!ok) return this.end(op, 'failed', `rolled back automatically: no confirmation within ${this.o.confirmTimeoutS} s`, { generationBefore: before, generationAfter: before, generationFailed: before + 1, rolledBack: true });
    }
    if (activates) {
      this.generation = op.info.kind === 'rollback' ? Math.max(1, before - 1) : before + 1;
      if (rev) this.revision = rev.padEnd(40, '0');
    }
    this.end(op, 'succeeded', undefined, { generationBefore: before, generationAfter: this.generation, revision: this.revision, checks: 'not-run' });
  }

  /** New lines to the journal stream, batched and deduplicated as JournalPublisher.send does. */
  private async pump(op: SimOp): Promise<void> {
    const lines = op.lines.slice(op.published);
    if (!lines.length) return;
    const h = natsHeaders();
    const first = lines[0]!.seq;
    const last = lines.at(-1)!.seq;
    h.set(HEADERS.firstSeq, String(first));
    h.set(HEADERS.lastSeq, String(last));
    await this.js!.publish(subjects.journal(this.host, op.info.id), JSON.stringify({ lines }), { headers: h, msgID: `${hostToken(this.host)}.${op.info.id}.${first}-${last}` });
    op.published += lines.length;
  }

  private end(op: SimOp, state: OpInfo['state'], error: string | undefined, result: Record<string, unknown>): void {
    Object.assign(op.info, { state, endedAt: new Date().toISOString(), result, ...(error ? { error } : {}) });
    if (this.busy?.id === op.info.id) this.busy = undefined;
    void (async () => {
      await this.pump(op);
      const h = natsHeaders();
      h.set(HEADERS.end, '1');
      h.set(HEADERS.lastSeq, String(op.info.lastSeq));
      await this.js!.publish(subjects.journal(this.host, op.info.id), JSON.stringify(op.info), { headers: h, msgID: `${hostToken(this.host)}.${op.info.id}.end` });
      await this.heartbeat();
    })().catch(() => {});
  }

  async stop(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    await this.nc?.close();
  }
}
