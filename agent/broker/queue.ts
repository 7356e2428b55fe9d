// Ops queued for this host while it was offline (stream NIXFLEET_QUEUE, a work queue,
// subject nixfleet.queue.<host>). The host reads them through its own durable consumer,
// one at a time: an op that has not expired runs as if a controller had sent it (same
// op id: a redelivered message never runs twice), one that expired is recorded as
// cancelled with result.expired and "expired" in its error, and one that meets the host
// lock (another op is running) is redelivered after a pause until it runs or expires.
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { OpInfo, OpStateName } from '../../protocol';
import { STREAMS, queueConsumer, queuedOp, subjects, type QueuedOp } from '../../protocol/broker';
import { auditOp } from '../journal/audit';
import { createOpDir, writeOpInfo } from '../journal/opStore';
import { journalFile } from '../journal/paths';
import { JournalWriter } from '../journal/writer';
import { OpRequestError } from '../runner/manager';
import type { AgentCore } from '../server/core';
import { AGENT_VERSION } from '../version';

/** A queued op that met a running one is offered again after this pause. */
const BUSY_RETRY_MS = 5_000;
/** A worker that took the message and died leaves it to be redelivered after this. */
const ACK_WAIT_MS = 60_000;
const RESTART_MS = 2_000;

export class QueueRunner {
  private closed = false;
  private stopConsume: (() => void) | undefined;

  constructor(
    private readonly core: AgentCore,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly authenticated: boolean,
    private readonly onOp: (opId: string) => void,
    private readonly log: (text: string) => void,
  ) {}

  start(): void {
    void this.run();
  }

  private async run(): Promise<void> {
    const host = this.core.config.host;
    let warned = '';
    while (!this.closed) {
      try {
        await this.jsm.consumers.add(STREAMS.queue, {
          durable_name: queueConsumer(host),
          filter_subject: subjects.queue(host),
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: nanos(ACK_WAIT_MS),
          max_ack_pending: 1,
        });
        const consumer = await this.js.consumers.get(STREAMS.queue, queueConsumer(host));
        const messages = await consumer.consume({ max_messages: 1 });
        this.stopConsume = () => void messages.close();
        warned = '';
        for await (const m of messages) {
          if (this.closed) break;
          await this.handle(m);
        }
      } catch (err) {
        const msg = `cannot read this host's queued ops from the broker: ${(err as Error).message}`;
        if (msg !== warned) this.log(`${msg}; retrying`);
        warned = msg;
      }
      if (!this.closed) await new Promise((r) => setTimeout(r, RESTART_MS));
    }
  }

  private async handle(m: JsMsg): Promise<void> {
    let raw: unknown;
    try {
      raw = m.json();
    } catch {
      raw = undefined;
    }
    const parsed = queuedOp.safeParse(raw);
    if (!parsed.success) {
      this.log(`dropped a queued message that is not an op (${parsed.error.issues[0]?.path.join('.') || 'body'}: ${parsed.error.issues[0]?.message})`);
      m.term();
      return;
    }
    const q = parsed.data;
    const manager = this.core.manager;
    const client = { name: q.client, auth: 'broker-queue' };
    if (manager.get(q.op)) {
      m.ack(); // accepted before (a redelivery, or sent directly as well)
      this.onOp(q.op);
      return;
    }
    if (Date.parse(q.expiresAt) <= Date.now()) {
      this.recordUnrun(q, 'cancelled', `${q.kind} ${q.op} expired in the queue at ${q.expiresAt} (queued ${q.queuedAt} by ${q.client}) before host ${this.core.config.host} could run it; nothing ran: send it again if it is still wanted`, { expired: true });
      m.ack();
      return;
    }
    try {
      await manager.start({ op: q.op, kind: q.kind, params: q.params, client }, { authenticated: this.authenticated });
      m.ack();
      this.onOp(q.op);
      // A controller's op ran: more of its ops may follow (standbyWorker "auto").
      if (this.authenticated) manager.controllerActive();
    } catch (err) {
      if (err instanceof OpRequestError && err.code === 'busy') {
        m.nak(BUSY_RETRY_MS);
        return;
      }
      if (err instanceof OpRequestError) {
        // Per controller that queued it, as for broker sessions (agent/server/session.ts).
        this.core.refusals.record({ source: `broker-queue ${client.name}`, client, request: 'op.start', op: q.op, kind: q.kind, code: err.code, reason: err.message });
        if (err.code !== 'conflict') this.recordUnrun(q, 'failed', `queued ${q.kind} ${q.op} was refused by host ${this.core.config.host}: ${err.message}`, {});
        m.ack();
        return;
      }
      this.log(`queued op ${q.op} could not be started: ${(err as Error).message}; it is offered again`);
      m.nak(BUSY_RETRY_MS);
    }
  }

  /** An op that never ran gets a record like any other: op.json, one journal line, audit, stream. */
  private recordUnrun(q: QueuedOp, state: OpStateName, error: string, result: Record<string, unknown>): void {
    const stateDir = this.core.config.stateDir;
    try {
      createOpDir(stateDir, q.op);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
      throw err;
    }
    const journal = JournalWriter.open(journalFile(stateDir, q.op));
    journal.append('info', error);
    journal.close();
    const now = new Date().toISOString();
    const info: OpInfo = {
      id: q.op,
      kind: q.kind,
      params: q.params,
      state,
      client: { name: q.client, auth: 'broker-queue' },
      startedAt: now,
      endedAt: now,
      lastSeq: journal.lastSeq,
      exit: 1,
      error,
      result: { ...result, agentVersionAfter: AGENT_VERSION },
      agentVersion: AGENT_VERSION,
    };
    writeOpInfo(stateDir, info);
    auditOp(stateDir, info);
    this.log(error);
    this.onOp(q.op);
  }

  close(): void {
    this.closed = true;
    this.stopConsume?.();
  }
}
