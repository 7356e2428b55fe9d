// The streams and the bucket of docs/broker.md, created by a controller (operators may
// use the JetStream API; hosts may not). Idempotent: what exists is left as it is.
import { JetStreamApiError, RetentionPolicy, StorageType, jetstream, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { AUDIT_MAX_AGE_MS, BROKER_MAX_PAYLOAD, JOURNAL_MAX_AGE_MS, QUEUE_MAX_AGE_MS, STATUS_BUCKET, STREAMS, subjects } from '../../protocol/broker';

/** JetStream's "stream name already in use" (with another configuration). */
const STREAM_NAME_IN_USE = 10058;

export function streamConfigs(replicas: number): (Partial<StreamConfig> & { name: string })[] {
  const common = { storage: StorageType.File, num_replicas: replicas, max_msg_size: BROKER_MAX_PAYLOAD };
  return [
    // allow_direct: hosts ask where their copies stand by direct get of their own subjects.
    { ...common, name: STREAMS.journal, subjects: [subjects.anyJournal], retention: RetentionPolicy.Limits, max_age: nanos(JOURNAL_MAX_AGE_MS), allow_direct: true, duplicate_window: nanos(120_000) },
    { ...common, name: STREAMS.audit, subjects: [subjects.anyAudit], retention: RetentionPolicy.Limits, max_age: nanos(AUDIT_MAX_AGE_MS), allow_direct: true, duplicate_window: nanos(120_000) },
    // A work queue: a message is gone once its host acknowledged it; op ids dedupe retries.
    { ...common, name: STREAMS.queue, subjects: [subjects.anyQueue], retention: RetentionPolicy.Workqueue, max_age: nanos(QUEUE_MAX_AGE_MS), duplicate_window: nanos(600_000) },
  ];
}

/** Create what is missing. `replicas`: 1 for a single server, 3 for a three-node cluster. */
export async function ensureBroker(nc: NatsConnection, jsm: JetStreamManager, replicas = 1): Promise<void> {
  for (const cfg of streamConfigs(replicas)) {
    try {
      await jsm.streams.add(cfg);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE)) {
        throw new Error(`cannot create stream ${cfg.name} on the broker: ${(err as Error).message}`);
      }
    }
  }
  try {
    await new Kvm(jetstream(nc)).create(STATUS_BUCKET, { history: 1, replicas, allow_direct: true });
  } catch (err) {
    if (!/already in use|exists/i.test((err as Error).message)) throw new Error(`cannot create the ${STATUS_BUCKET} bucket on the broker: ${(err as Error).message}`);
  }
}
