// The hosts of the fleet: one record per host from the nixfleet.hosts entries and the
// workspace flake, holding what the extension last knew of it (its snapshot) and its session.
import type { DiscoveredHost } from './discovery';
import type { HostEntry } from './hostConfig';
import type { HostSnapshot } from './hostSnapshot';
import type { AgentSession } from './session';

export interface HostRecord {
  snapshot: HostSnapshot;
  session?: AgentSession;
  unsubscribe: Array<() => void>;
  /** Key of the entry the session was opened for, to reopen only when it changed. */
  sessionKey?: string;
}

export class HostRegistry {
  private readonly records = new Map<string, HostRecord>();

  constructor(
    /** Fired after every change of a snapshot or of the list. */
    private readonly changed: () => void,
    /** Closes the session of a record that is dropped or loses its entry. */
    private readonly closeSession: (rec: HostRecord) => void,
  ) {}

  /** Replace the host list: settings entries first, flake hosts without an entry as unconfigured. */
  configure(entries: readonly HostEntry[], discovered: readonly DiscoveredHost[]): void {
    const names = new Set<string>();
    for (const e of entries) {
      names.add(e.name);
      const rec = this.records.get(e.name);
      if (rec) {
        rec.snapshot.entry = e;
        rec.snapshot.platform = e.platform;
        // Sessions open as soon as the fleet is started (view shown or a command run).
        if (rec.snapshot.connection === 'unconfigured') rec.snapshot.connection = 'connecting';
      } else {
        this.records.set(e.name, { snapshot: { name: e.name, platform: e.platform, entry: e, connection: 'connecting', runningOps: [] }, unsubscribe: [] });
      }
    }
    for (const d of discovered) {
      const rec = this.records.get(d.name);
      if (rec) rec.snapshot.discoveredIn = d.attribute;
      if (names.has(d.name)) continue;
      names.add(d.name);
      const snapshot: HostSnapshot = { name: d.name, platform: d.platform, discoveredIn: d.attribute, connection: 'unconfigured', runningOps: [] };
      if (rec) {
        this.closeSession(rec);
        rec.snapshot = snapshot;
      } else {
        this.records.set(d.name, { snapshot, unsubscribe: [] });
      }
    }
    for (const [name, rec] of this.records) {
      if (!names.has(name)) {
        this.closeSession(rec);
        this.records.delete(name);
      }
    }
  }

  get(name: string): HostRecord | undefined {
    return this.records.get(name);
  }

  all(): HostRecord[] {
    return [...this.records.values()];
  }

  /** Snapshots by name. */
  snapshots(): HostSnapshot[] {
    return this.all().map((r) => r.snapshot).sort((a, b) => a.name.localeCompare(b.name));
  }

  update(rec: HostRecord, patch: Partial<HostSnapshot>): void {
    rec.snapshot = { ...rec.snapshot, ...patch };
    this.changed();
  }
}
