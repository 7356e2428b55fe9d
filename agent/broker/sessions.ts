// Protocol sessions over the broker: a controller opens one by publishing its hello to
// nixfleet.host.<host>.session.<sid> with reply subject nixfleet.reply.<host>.<sid>;
// every later frame of that session goes to the same subject, and the agent's frames go
// to the reply subject. Each session is the same Session the WebSocket and stdio
// transports use. Journals are not streamed over sessions: they go through the journal
// stream (journal.ts), so a reconnecting client replays them from JetStream.
import { headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { HEADERS, SESSION_IDLE_MS, subjects } from '../../protocol/broker';
import type { AgentCore } from '../server/core';
import { Session } from '../server/session';

const SID_RE = /^[A-Za-z0-9]{1,64}$/;

interface Entry {
  session: Session;
  reply: string;
  /** performance.now() of the last frame or ping: monotonic, so a clock step reaps nothing. */
  lastSeen: number;
}

export class BrokerSessions {
  private readonly entries = new Map<string, Entry>();
  private sub: Subscription | undefined;
  private reaper: NodeJS.Timeout | undefined;

  constructor(
    private readonly core: AgentCore,
    private readonly nc: NatsConnection,
    /** Whether the broker authenticated the controllers (the agent itself logged in with credentials). */
    private readonly authenticated: boolean,
    private readonly onJournalWanted: (opId: string) => void,
    private readonly log: (text: string) => void,
  ) {}

  start(): void {
    const host = this.core.config.host;
    this.sub = this.nc.subscribe(subjects.sessions(host), { callback: (err, msg) => (err ? this.log(`session subscription: ${err.message}`) : this.onMessage(msg)) });
    this.reaper = setInterval(() => this.reap(), SESSION_IDLE_MS / 3);
    this.reaper.unref();
  }

  get size(): number {
    return this.entries.size;
  }

  private onMessage(msg: Msg): void {
    const host = this.core.config.host;
    const sid = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
    // Frames go only to the session's own reply subject: no request can redirect them.
    if (!SID_RE.test(sid) || msg.reply !== subjects.reply(host, sid)) return;
    const h = msg.headers;
    const entry = this.entries.get(sid);
    if (h?.has(HEADERS.close)) {
      entry?.session.detach();
      this.entries.delete(sid);
      return;
    }
    if (!entry && !h?.has(HEADERS.open)) {
      // This agent restarted (or dropped the session after SESSION_IDLE_MS of silence). A
      // broker session holds no state the client cannot give again: hand the frame back,
      // and the client sends its hello and then the frame once more.
      return this.control(msg.reply, HEADERS.resume, '1', msg.data);
    }
    if (h?.has(HEADERS.ping)) {
      entry!.lastSeen = performance.now();
      return this.control(msg.reply, HEADERS.pong, '1');
    }
    const current = entry ?? this.open(sid, msg.reply);
    current.lastSeen = performance.now();
    current.session.handleFrame(msg.string());
  }

  private open(sid: string, reply: string): Entry {
    const entry: Entry = {
      reply,
      lastSeen: performance.now(),
      session: new Session(
        this.core,
        {
          send: (frame, flushed) => {
            this.publish(reply, frame);
            queueMicrotask(flushed);
          },
          close: (reason) => {
            this.control(reply, HEADERS.close, reason);
            this.entries.delete(sid);
          },
          abort: () => {
            this.entries.delete(sid);
          },
          // Frames go to the server as they are sent (flushed runs at once), so a controller
          // that does not read costs the broker, not this agent: the session's high-water
          // mark is never reached and there is no socket of the controller's to pause.
          pauseInput: () => {},
          resumeInput: () => {},
          journalsElsewhere: this.onJournalWanted,
        },
        // The broker checked who may publish to this host's subjects (operator credentials).
        { auth: 'broker', address: `nats session ${sid}`, source: 'broker', sourcePerClient: true, authenticated: this.authenticated },
      ),
    };
    this.entries.set(sid, entry);
    return entry;
  }

  private publish(subject: string, frame: string | Buffer): void {
    try {
      this.nc.publish(subject, frame);
    } catch (err) {
      // Too large for the server's max_payload, or the connection is closing: the client's
      // request times out and it asks again on a new session.
      this.log(`cannot send a ${frame.length}-byte frame over the broker: ${(err as Error).message}`);
    }
  }

  private control(subject: string, header: string, value: string, payload: Uint8Array | string = ''): void {
    const h = natsHeaders();
    h.set(header, value.replace(/[\r\n]/g, ' '));
    try {
      this.nc.publish(subject, payload, { headers: h });
    } catch {
      /* connection closing: the client notices by itself */
    }
  }

  /** A controller that vanished without closing leaves a session nobody pings. */
  private reap(): void {
    const now = performance.now();
    for (const [sid, e] of this.entries) {
      if (now - e.lastSeen <= SESSION_IDLE_MS) continue;
      e.session.detach();
      this.entries.delete(sid);
    }
  }

  /** End every session, keep serving new ones (the connection dropped: frames may have been lost). */
  dropAll(reason: string): void {
    for (const e of this.entries.values()) {
      this.control(e.reply, HEADERS.close, reason);
      e.session.detach();
    }
    this.entries.clear();
  }

  /** Stop serving (the agent stops). */
  close(reason: string): void {
    if (this.reaper) clearInterval(this.reaper);
    this.sub?.unsubscribe();
    this.dropAll(reason);
  }
}
