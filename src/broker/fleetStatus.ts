// The whole fleet's status from one watch of the broker's status bucket: every host's
// last record, and whether it is online. A host is online while its agent says so and
// its record is younger than OFFLINE_AFTER_MS (agents re-publish every HEARTBEAT_MS).
// Records present when the watch starts are aged by their server timestamp; later ones
// by when they arrived here, so clock skew between controller and broker only matters
// for the first look.
import { Emitter } from '../fleet/emitter';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import type { JetStreamClient } from '@nats-io/jetstream';
import { OFFLINE_AFTER_MS, STATUS_BUCKET, hostFromToken, hostRecord, type HostRecord } from '../../protocol/broker';
import { parseAdditive } from '../../protocol/additive';

export interface FleetHost {
  host: string;
  online: boolean;
  record: HostRecord;
  /** When the record was written (ms since the epoch, see the file comment). */
  seenAt: number;
}

export class FleetStatusWatcher {
  /** A host's record changed, or it went offline by silence. */
  readonly onHost = new Emitter<FleetHost>();
  /** A host's record was deleted from the bucket: its name. */
  readonly onRemoved = new Emitter<string>();
  /** A record that is not a valid host record, named by key. */
  readonly onInvalid = new Emitter<{ key: string; reason: string }>();
  private readonly hosts = new Map<string, FleetHost>();
  private iter: QueuedIterator<KvWatchEntry> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private initial!: Promise<void>;

  private constructor(private readonly offlineAfterMs: number) {}

  /** Watch the bucket; resolves once the records present at the start are loaded. */
  static async start(js: JetStreamClient, opts: { offlineAfterMs?: number } = {}): Promise<FleetStatusWatcher> {
    const w = new FleetStatusWatcher(opts.offlineAfterMs ?? OFFLINE_AFTER_MS);
    let kv: KV;
    try {
      kv = await new Kvm(js).open(STATUS_BUCKET);
      const present = (await kv.status()).values;
      w.iter = await kv.watch();
      w.initial = w.consume(w.iter, present);
    } catch (err) {
      throw new Error(`cannot watch the fleet's status bucket ${STATUS_BUCKET} on the broker: ${(err as Error).message}`);
    }
    await w.initial;
    w.timer = setInterval(() => w.age(), Math.min(1000, w.offlineAfterMs / 4));
    w.timer.unref();
    return w;
  }

  /** Resolves after the first `present` entries; keeps consuming afterwards. */
  private consume(iter: QueuedIterator<KvWatchEntry>, present: number): Promise<void> {
    return new Promise((resolve) => {
      if (present === 0) resolve();
      let seen = 0;
      void (async () => {
        for await (const e of iter) {
          this.apply(e);
          if (!e.isUpdate && ++seen >= present) resolve();
          if (e.isUpdate) resolve();
        }
        resolve();
      })();
    });
  }

  private apply(e: KvWatchEntry): void {
    const host = hostFromToken(e.key);
    if (e.operation !== 'PUT') {
      if (this.hosts.delete(host)) this.onRemoved.fire(host);
      return;
    }
    let raw: unknown;
    try {
      raw = e.json();
    } catch {
      return void this.onInvalid.fire({ key: e.key, reason: 'not JSON' });
    }
    const parsed = parseAdditive(hostRecord, raw);
    if (!parsed.success || parsed.data.host !== host) {
      return void this.onInvalid.fire({ key: e.key, reason: parsed.success ? `record names host ${parsed.data.host}` : (parsed.error.issues[0]?.message ?? 'invalid') });
    }
    const seenAt = e.isUpdate ? Date.now() : e.created.getTime();
    const h: FleetHost = { host, record: parsed.data, seenAt, online: this.isOnline(parsed.data, seenAt) };
    this.hosts.set(host, h);
    this.onHost.fire(h);
  }

  private isOnline(record: HostRecord, seenAt: number): boolean {
    return record.online && Date.now() - seenAt < this.offlineAfterMs;
  }

  /** Hosts whose records stopped coming go offline. */
  private age(): void {
    for (const h of this.hosts.values()) {
      if (h.online && !this.isOnline(h.record, h.seenAt)) {
        h.online = false;
        this.onHost.fire(h);
      }
    }
  }

  get(host: string): FleetHost | undefined {
    return this.hosts.get(host);
  }

  list(): FleetHost[] {
    return [...this.hosts.values()].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.iter?.stop();
  }
}

/** Why the bucket shows `h` offline, with what to do (the agent stopped, or its records stopped coming). */
export function offlineReason(h: FleetHost): string {
  return h.record.online
    ? `host ${h.host} is offline: its agent's last status reached the broker at ${new Date(h.seenAt).toISOString()} (more than three heartbeats ago); check that the agent runs and reaches the broker`
    : `host ${h.host} is offline: its agent stopped at ${h.record.heartbeatAt}; start it again`;
}
