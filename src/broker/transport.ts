// The broker transport: a protocol session with one host's agent through NATS, beside
// WebSocket and SSH (src/fleet/transport.ts). Frames go to nixfleet.host.<host>.session.<sid>
// and come back on nixfleet.reply.<host>.<sid>. Journals do not travel in the session:
// when the client subscribes to an op, this transport reads the op's journal from the
// broker's stream (journal.ts) and hands it on as the usual op.output / op.end frames, so
// AgentClient works unchanged and a reconnect replays from the stream, not from the agent.
import { headers as natsHeaders, nuid, type Msg, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { printable } from '../../protocol';
import { HEADERS, SESSION_DEAD_MS, SESSION_PING_MS, subjects } from '../../protocol/broker';
import { Transport } from '../fleet/transport';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Emitter } from '../fleet/emitter';
import { JournalReader, type JournalPositions } from './journal';

/**
 * What a host session needs of the controller's broker connection. BrokerClient is the one
 * implementation; naming it here keeps this file from importing the client that builds it.
 */
export interface BrokerLink {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly description: string;
  readonly onDisconnect: Emitter<void>;
  readonly positions: JournalPositions;
}

export class BrokerTransport extends Transport {
  readonly description: string;
  private readonly sid = nuid.next();
  private readonly reply: string;
  private readonly subject: string;
  private sub: Subscription | undefined;
  private opened = false;
  /** The hello of this session, sent again when the agent restarted under it. */
  private hello: string | undefined;
  private resumes = 0;
  private finished = false;
  private lastHeard = Date.now();
  private readonly pinger: NodeJS.Timeout;
  private readonly readers = new Map<string, JournalReader>();
  /** op.subscribe requests awaiting their answer: a refused one (unknown op) stops its reader. */
  private readonly subscribing = new Map<string | number, string>();
  private readonly offDisconnect: () => void;

  constructor(
    private readonly broker: BrokerLink,
    readonly host: string,
  ) {
    super();
    this.description = `broker ${broker.description} host ${host}`;
    this.reply = subjects.reply(host, this.sid);
    this.subject = subjects.session(host, this.sid);
    this.pinger = setInterval(() => this.ping(), SESSION_PING_MS);
    this.pinger.unref();
    this.offDisconnect = broker.onDisconnect.on(() => this.finish('the connection to the broker dropped', false));
    if (broker.nc.isClosed()) {
      setImmediate(() => this.finish('the broker connection is closed', true));
      return;
    }
    this.sub = broker.nc.subscribe(this.reply, { callback: (err, msg) => (err ? this.finish(`broker refused the session with host ${host}: ${err.message}`, true) : this.received(msg)) });
    // The subscription is on the wire before the hello that follows it on the same connection.
    setImmediate(() => {
      if (!this.finished) this.onOpen.fire();
    });
  }

  private received(msg: Msg): void {
    if (this.finished) return;
    const h = msg.headers;
    // Nobody subscribes to the host's session subject: the server answers a publish that has
    // a reply subject with a 503 status ("no responders"). Without this check that status
    // counted as hearing from the agent, and a session with an agent cut off from the broker
    // never ended.
    if (h?.hasError && h.code === 503) return this.finish(`host ${this.host} is not connected to the broker (its agent is stopped, restarting, or cut off from the broker)`, false);
    this.lastHeard = Date.now();
    if (h?.has(HEADERS.close)) return this.finish(`host ${this.host} ended the session: ${printable(h.get(HEADERS.close), 300)}`, false);
    if (h?.has(HEADERS.resume)) return this.resume(msg.data);
    this.resumes = 0;
    if (h?.has(HEADERS.pong)) return;
    const text = msg.string();
    if (this.subscribing.size) this.settleSubscribe(text);
    this.onMessage.fire(text);
  }

  /**
   * The agent restarted under this session: open it again with the same hello (its
   * welcome is one AgentClient already has) and resend the frame it handed back.
   * Journals are unaffected: they come from the stream.
   */
  private resume(frame: Uint8Array): void {
    if (!this.hello || ++this.resumes > 3) return this.finish(`host ${this.host} keeps refusing the session`, false);
    this.publish(this.hello, HEADERS.open);
    if (frame.length) this.publish(new TextDecoder().decode(frame));
  }

  private ping(): void {
    if (this.finished) return;
    if (Date.now() - this.lastHeard > SESSION_DEAD_MS) {
      return this.finish(`host ${this.host} did not answer through the broker for ${SESSION_DEAD_MS / 1000} s (its agent is offline or restarting)`, false);
    }
    this.publish('', HEADERS.ping);
  }

  private publish(text: string, header?: string, value = '1'): void {
    const h = header ? natsHeaders() : undefined;
    if (h) h.set(header!, value);
    try {
      this.broker.nc.publish(this.subject, text, { reply: this.reply, ...(h ? { headers: h } : {}) });
    } catch (err) {
      this.finish(`cannot send to host ${this.host} through the broker: ${(err as Error).message}`, false);
    }
  }

  send(text: string): void {
    if (this.finished) return;
    this.intercept(text);
    if (!this.opened) {
      this.opened = true;
      this.hello = text;
      return this.publish(text, HEADERS.open);
    }
    this.publish(text);
  }

  private settleSubscribe(text: string): void {
    let m: { type?: unknown; id?: unknown };
    try {
      m = JSON.parse(text) as typeof m;
    } catch {
      return;
    }
    if ((m.type !== 'result' && m.type !== 'error') || (typeof m.id !== 'string' && typeof m.id !== 'number')) return;
    const op = this.subscribing.get(m.id);
    if (op === undefined) return;
    this.subscribing.delete(m.id);
    if (m.type === 'error') {
      this.readers.get(op)?.close();
      this.readers.delete(op);
    }
  }

  /** op.subscribe / op.unsubscribe also start / stop reading the op's journal from the stream. */
  private intercept(text: string): void {
    if (!text.includes('"op.subscribe"') && !text.includes('"op.unsubscribe"')) return;
    let m: { type?: unknown; id?: unknown; op?: unknown; fromSeq?: unknown };
    try {
      m = JSON.parse(text) as typeof m;
    } catch {
      return;
    }
    if (typeof m.op !== 'string') return;
    const op = m.op;
    this.readers.get(op)?.close();
    this.readers.delete(op);
    if (m.type !== 'op.subscribe') return;
    if (typeof m.id === 'string' || typeof m.id === 'number') this.subscribing.set(m.id, op);
    const fromSeq = typeof m.fromSeq === 'number' && m.fromSeq >= 0 ? m.fromSeq : 0;
    const opJson = JSON.stringify(op);
    const reader = new JournalReader(
      this.broker.js,
      this.host,
      op,
      fromSeq,
      {
        batch: (json) => {
          if (this.readers.get(op) !== reader) return;
          // `{"lines":[...]}` → `{"type":"op.output","op":"…","lines":[...]}` without re-parsing.
          this.onMessage.fire(`{"type":"op.output","op":${opJson},${json.slice(1)}`);
          if (reader.position) this.broker.positions.set(this.host, op, reader.position);
        },
        end: (info) => {
          if (this.readers.get(op) !== reader) return;
          this.readers.delete(op);
          this.broker.positions.delete(this.host, op);
          this.onMessage.fire(JSON.stringify({ type: 'op.end', op: info }));
        },
        error: (err) => {
          if (this.readers.get(op) === reader) this.finish(`cannot read the journal of op ${op} of host ${this.host} from the broker: ${err.message}`, false);
        },
      },
      this.broker.positions.get(this.host, op),
    );
    this.readers.set(op, reader);
  }

  private finish(reason: string, fatal: boolean): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.pinger);
    this.offDisconnect();
    for (const r of this.readers.values()) r.close();
    this.readers.clear();
    this.sub?.unsubscribe();
    this.onClose.fire({ reason, fatal });
  }

  close(): void {
    if (this.finished) return;
    if (this.opened && !this.broker.nc.isClosed()) this.publish('', HEADERS.close, 'closed by the client');
    this.finish('closed by the client', true);
  }
}
