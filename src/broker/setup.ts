// The streams and the bucket of docs/broker.md, created by a controller (operators may
// use the JetStream API; hosts may not). Two uses: a controller that connects with
// `ensure` creates what is missing and leaves what exists as it is; `nixfleet
// broker-setup` (update: true) also brings existing ones to the stated replicas and
// limits, and reports what it did for each.
import { JetStreamApiError, RetentionPolicy, StorageType, jetstream, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { AUDIT_MAX_AGE_MS, BROKER_MAX_PAYLOAD, JOURNAL_MAX_AGE_MS, QUEUE_MAX_AGE_MS, STATUS_BUCKET, STREAMS, subjects } from '../../protocol/broker';

/** JetStream's "stream name already in use" (with another configuration) and "stream not found". */
const STREAM_NAME_IN_USE = 10058;
const STREAM_NOT_FOUND = 10059;
/** The stream JetStream keeps a KV bucket in. */
export const STATUS_BUCKET_STREAM = `KV_${STATUS_BUCKET}`;
/** A stream has at most five replicas (JetStream's limit). */
export const MAX_REPLICAS = 5;

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

/** What setup found and did for one stream or the bucket. */
export interface SetupStep {
  /** The stream's name (the bucket: its name, kept in stream KV_<bucket>). */
  name: string;
  kind: 'stream' | 'bucket';
  action: 'created' | 'updated' | 'unchanged';
  replicas: number;
  /** How long a message is kept, in ms; 0 = until replaced (the bucket's records). */
  maxAgeMs: number;
  /** "replicas 1 → 3", one per changed setting (updated only). */
  changes: string[];
}

export interface SetupOptions {
  /** 1 for a single server, 3 (or 5) for a cluster. */
  replicas: number;
  /** Bring existing streams and the bucket to these settings too (default: leave them). */
  update?: boolean;
}

/** The settings setup keeps in line on an existing stream, with how to show them. */
const KEPT: { key: 'num_replicas' | 'max_age' | 'max_msg_size' | 'duplicate_window' | 'allow_direct' | 'max_msgs_per_subject'; label: string; show(v: unknown): string }[] = [
  { key: 'num_replicas', label: 'replicas', show: String },
  { key: 'max_age', label: 'max age', show: (v) => duration(Number(v) / 1e6) },
  { key: 'max_msg_size', label: 'max message size', show: String },
  { key: 'duplicate_window', label: 'duplicate window', show: (v) => duration(Number(v) / 1e6) },
  { key: 'allow_direct', label: 'direct get', show: String },
  { key: 'max_msgs_per_subject', label: 'history', show: String },
];

/** Create what is missing (and with `update`, fix what differs). Throws one sentence naming the stream. */
export async function setupBroker(nc: NatsConnection, jsm: JetStreamManager, opts: SetupOptions): Promise<SetupStep[]> {
  const { replicas } = opts;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) throw new Error(`replicas must be a whole number from 1 to ${MAX_REPLICAS}, not ${replicas}`);
  // A single server stores whatever replica count it is given and keeps one copy: refuse
  // rather than report three copies that do not exist.
  if (replicas > 1 && !nc.info?.cluster) {
    throw new Error(`the broker at ${nc.getServer()} is a single nats-server, not a cluster, and keeps one copy of each stream whatever is asked: give --replicas 1, or as many as the cluster has nodes once it is one (docs/broker.md)`);
  }
  const steps: SetupStep[] = [];
  for (const cfg of streamConfigs(replicas)) {
    steps.push(await setupStream(jsm, cfg, 'stream', cfg.name, opts.update === true, () => jsm.streams.add(cfg)));
  }
  // The bucket's stream is made by the KV API (its subjects, rollups, discard policy); only
  // the replicas and the history are settings of ours.
  const bucketCfg = { name: STATUS_BUCKET_STREAM, num_replicas: replicas, max_msgs_per_subject: 1, allow_direct: true };
  steps.push(
    await setupStream(jsm, bucketCfg, 'bucket', STATUS_BUCKET, opts.update === true, async () => {
      await new Kvm(jetstream(nc)).create(STATUS_BUCKET, { history: 1, replicas, allow_direct: true });
      return jsm.streams.info(STATUS_BUCKET_STREAM);
    }),
  );
  return steps;
}

/** The streams and the bucket as a controller needs them: created when missing, left as they are otherwise. */
export async function ensureBroker(nc: NatsConnection, jsm: JetStreamManager, replicas = 1): Promise<void> {
  await setupBroker(nc, jsm, { replicas });
}

async function setupStream(
  jsm: JetStreamManager,
  want: Partial<StreamConfig> & { name: string },
  kind: SetupStep['kind'],
  name: string,
  update: boolean,
  create: () => Promise<StreamInfo>,
): Promise<SetupStep> {
  const what = kind === 'bucket' ? `the ${name} bucket` : `stream ${name}`;
  let info: StreamInfo | undefined;
  try {
    info = await jsm.streams.info(want.name);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND)) throw new Error(`cannot read ${what} on the broker: ${(err as Error).message}`);
  }
  if (!info) {
    try {
      info = await create();
      return step(name, kind, 'created', info, []);
    } catch (err) {
      // Another controller created it in between: carry on with what is there.
      if (!(err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE) && !/already in use|exists/i.test((err as Error).message)) {
        throw new Error(`cannot create ${what} on the broker: ${explain((err as Error).message)}`);
      }
      info = await jsm.streams.info(want.name);
    }
  }
  if (want.retention !== undefined && info.config.retention !== want.retention) {
    throw new Error(`${what} on the broker has retention "${info.config.retention}", NixFleet needs "${want.retention}": remove it (nats stream rm ${want.name}) and run nixfleet broker-setup again`);
  }
  const changes: string[] = [];
  const patch: Record<string, unknown> = {};
  for (const k of KEPT) {
    if (want[k.key] === undefined) continue;
    const have = (info.config as unknown as Record<string, unknown>)[k.key];
    if (have === want[k.key]) continue;
    changes.push(`${k.label} ${k.show(have)} → ${k.show(want[k.key])}`);
    patch[k.key] = want[k.key];
  }
  if (!update || changes.length === 0) return step(name, kind, 'unchanged', info, []);
  try {
    info = await jsm.streams.update(want.name, patch);
  } catch (err) {
    throw new Error(`cannot update ${what} on the broker (${changes.join(', ')}): ${explain((err as Error).message)}`);
  }
  return step(name, kind, 'updated', info, changes);
}

function step(name: string, kind: SetupStep['kind'], action: SetupStep['action'], info: StreamInfo, changes: string[]): SetupStep {
  return { name, kind, action, replicas: info.config.num_replicas, maxAgeMs: Math.round(Number(info.config.max_age) / 1e6), changes };
}

/** The server's words, with what to do for the one a user meets first. */
function explain(message: string): string {
  if (/replicas > 1 not supported in non-clustered mode|insufficient resources/i.test(message)) {
    return `${message}; a single nats-server holds one replica: give --replicas 1, or as many as the cluster has nodes (at most ${MAX_REPLICAS})`;
  }
  return message;
}

/** 30 days, 7 days, 2 minutes, 0 = "forever". */
export function duration(ms: number): string {
  if (ms === 0) return 'forever';
  const units: [number, string][] = [[86_400_000, 'day'], [3_600_000, 'hour'], [60_000, 'minute'], [1000, 'second']];
  for (const [size, unit] of units) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${unit}${ms === size ? '' : 's'}`;
  }
  return `${ms} ms`;
}
