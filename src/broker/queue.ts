// Queue an op for a host that is offline: it waits in the broker's work queue until the
// host's agent comes back and takes it, runs then if it has not expired, and is recorded
// as expired otherwise. Its journal and outcome arrive in the journal stream like any
// op's (journal.ts followJournal), so a controller shows it "queued" until they do.
import type { JetStreamClient } from '@nats-io/jetstream';
import type { OpKind } from '../../protocol';
import { QUEUE_DEFAULT_EXPIRY_MS, QUEUE_MAX_AGE_MS, hostToken, queuedOp, subjects, type QueuedOp } from '../../protocol/broker';

export interface QueueRequest {
  op: string;
  kind: OpKind;
  params?: Record<string, unknown>;
  /** Who queued it, as in hello (e.g. "vscode alice@laptop"). */
  client: string;
  /** Default QUEUE_DEFAULT_EXPIRY_MS (24 h); at most QUEUE_MAX_AGE_MS (7 days). */
  expiresInMs?: number;
}

export async function queueOp(js: JetStreamClient, host: string, req: QueueRequest): Promise<QueuedOp> {
  const expiresIn = req.expiresInMs ?? QUEUE_DEFAULT_EXPIRY_MS;
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > QUEUE_MAX_AGE_MS) {
    throw new Error(`a queued op expires after 1 ms to ${QUEUE_MAX_AGE_MS / 3600_000} hours, not ${expiresIn} ms`);
  }
  const now = Date.now();
  const parsed = queuedOp.safeParse({
    op: req.op,
    kind: req.kind,
    params: req.params ?? {},
    client: req.client,
    queuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + expiresIn).toISOString(),
  });
  if (!parsed.success) throw new Error(`cannot queue ${req.kind} for host ${host}: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
  // The op id is the message id: queueing the same op twice (a retry) stores it once.
  await js.publish(subjects.queue(host), JSON.stringify(parsed.data), { msgID: `${hostToken(host)}.${req.op}` });
  return parsed.data;
}
