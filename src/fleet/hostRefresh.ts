// Fetching a host's status, generations, running ops and the outcome of its last op, batched (RefreshQueue): asked for
// when a host comes online, when its generation or checks change, and after an op ends.
import { lastOutcome } from './hostOutcome';
import type { HostRecord, HostRegistry } from './hostRegistry';
import type { OpFollower } from './opFollower';
import { RefreshQueue } from './refreshQueue';

export class HostRefresh {
  private readonly queue: RefreshQueue<string>;

  constructor(
    private readonly registry: HostRegistry,
    private readonly follower: () => OpFollower,
    delayMs = 100,
  ) {
    this.queue = new RefreshQueue((keys) => this.now(keys), delayMs);
  }

  /** Refresh one host (or all); resolves after a run that covered it. */
  refresh(host?: string): Promise<void> {
    return this.queue.queue(host);
  }

  private async now(keys: Set<string> | 'all'): Promise<void> {
    const recs = keys === 'all' ? this.registry.all() : [...keys].flatMap((k) => this.registry.get(k) ?? []);
    await Promise.all(recs.map((r) => this.host(r)));
  }

  private async host(rec: HostRecord): Promise<void> {
    const session = rec.session;
    if (!session || session.state.state !== 'online') return;
    try {
      // The status alone makes the host's row: asked first and shown as soon as it arrives, so
      // the agent answers it before reading its generations and ops (the slower lists).
      const status = await session.status();
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
  }
}
