// Fetching a host's status, generations, running ops and the outcome of its last op. Asked for
// when a host comes online (at once: its row waits for that status, and nothing else is to be
// gathered with it), when its generation or checks change and after an op ends (batched by
// RefreshQueue: one op ending sends several signals at once). Few status requests are in flight
// at a time, the view's first rows first (OrderedPool): 50 agents asked at once share the CPU and
// the network and all answer late, so the rows a user looks at would wait for the last ones.
import { lastOutcome } from './hostOutcome';
import { viewOrder, type HostRecord, type HostRegistry } from './hostRegistry';
import type { OpFollower } from './opFollower';
import { OrderedPool } from './orderedPool';
import { RefreshQueue } from './refreshQueue';

/** Status requests in flight at once, and how long one may hold its place (a host slow to answer). */
export const REFRESHING_AT_ONCE = 8;
const REFRESH_SLOT_MS = 3_000;

export class HostRefresh {
  private readonly queue: RefreshQueue<string>;
  private readonly pool: OrderedPool<HostRecord>;

  constructor(
    private readonly registry: HostRegistry,
    private readonly follower: () => OpFollower,
    delayMs = 100,
  ) {
    this.queue = new RefreshQueue((keys) => this.now(keys), delayMs);
    this.pool = new OrderedPool({
      atOnce: REFRESHING_AT_ONCE,
      slotMs: REFRESH_SLOT_MS,
      order: (a, b) => viewOrder(a.snapshot, b.snapshot),
      work: (rec, release) => this.host(rec, release),
    });
  }

  /** Refresh one host (or all), batched; resolves after a run that covered it. */
  refresh(host?: string): Promise<void> {
    return this.queue.queue(host);
  }

  /**
   * Refresh a host whose session just came online, without the batch window: nothing else is
   * to be gathered with it, and its row waits for this status.
   */
  refreshNow(host: string): Promise<void> {
    const rec = this.registry.get(host);
    return rec ? this.pool.run(rec) : Promise.resolve();
  }

  private async now(keys: Set<string> | 'all'): Promise<void> {
    const recs = keys === 'all' ? this.registry.all() : [...keys].flatMap((k) => this.registry.get(k) ?? []);
    await this.pool.runAll(recs);
  }

  /** `statusIn` gives the host's place to the next one: its generations and ops follow uncounted (cheap reads). */
  private async host(rec: HostRecord, statusIn: () => void): Promise<void> {
    const session = rec.session;
    if (!session || session.state.state !== 'online') return;
    try {
      // The status alone makes the host's row: asked first and shown as soon as it arrives, so
      // the agent answers it before reading its generations and ops (the slower lists).
      const status = await session.status();
      statusIn();
      if (rec.session !== session) return;
      this.registry.update(rec, { status, lastSeen: new Date().toISOString() });
      const [generations, ops] = await Promise.all([session.generations(), session.listOps(50)]);
      if (rec.session !== session) return;
      const running = ops.filter((o) => o.state === 'running');
      const lastOp = ops.filter((o) => o.state !== 'running').sort((a, b) => (b.endedAt ?? b.startedAt).localeCompare(a.endedAt ?? a.startedAt))[0];
      // Build counts of an op that ended while its op.end was missed (a dropped connection) go with it.
      const building = rec.snapshot.building && running.some((o) => o.id === rec.snapshot.building!.op) ? rec.snapshot.building : undefined;
      this.registry.update(rec, { status, generations, runningOps: running, lastOutcome: lastOutcome(ops), lastOp, building, lastSeen: new Date().toISOString(), problem: undefined });
      // Show output of ops started elsewhere (CLI, deploy, another window) in this host's log.
      for (const op of running) this.follower().followIfNew(rec, op);
    } catch (err) {
      if (rec.session !== session) return;
      this.registry.update(rec, { problem: `refresh failed: ${(err as Error).message}` });
    }
  }

  dispose(): void {
    this.queue.dispose();
    this.pool.dispose();
  }
}
