// The hosts of the fleet: one record per host, holding what the extension last knew of it (its
// snapshot) and its session. Hosts come from sources that answer at different speeds: the
// `nixfleet.hosts` settings (read at once), the workspace flake (one `nix eval` per attribute),
// and any other source (the broker's KV) added with setSource. Until a source has answered in
// this session, the hosts it listed last session (hostMemory.ts) stand in for it, so the view
// is never empty while an evaluation runs.
import type { HostEntry } from './hostConfig';
import type { RememberedHost } from './hostMemory';
import type { HostSnapshot } from './hostSnapshot';
import type { AgentSession } from './session';
import type { Platform } from '../../protocol';

export interface HostRecord {
  snapshot: HostSnapshot;
  session?: AgentSession;
  unsubscribe: Array<() => void>;
  /** Key of the entry the session was opened for, to reopen only when it changed. */
  sessionKey?: string;
}

/** A host as one source lists it. A host with an `entry` has an agent to connect to. */
export interface SourceHost {
  name: string;
  platform: Platform;
  entry?: HostEntry;
  /** Flake attribute the host was found under, e.g. nixosConfigurations. */
  discoveredIn?: string;
}

/** The settings source: ranked first, so its entry wins over any other source's. */
export const SETTINGS_SOURCE = 'settings';

interface Listed extends SourceHost {
  source: string;
}

/** The view's order: hosts with an agent first (those the user can act on), then the others; by name within each. */
export function viewOrder(a: HostSnapshot, b: HostSnapshot): number {
  const noAgent = (s: HostSnapshot) => Number(s.connection === 'unconfigured');
  return noAgent(a) - noAgent(b) || a.name.localeCompare(b.name);
}

export class HostRegistry {
  private readonly records = new Map<string, HostRecord>();
  /** Each source's last answer, in the order sources first answered (settings always first). */
  private readonly sources = new Map<string, SourceHost[]>();
  /** Which source listed each current host (the first one, by rank). */
  private readonly sourceOf = new Map<string, string>();
  private remembered = new Map<string, RememberedHost>();

  constructor(
    /** Fired after every change of a snapshot or of the list. */
    private readonly changed: () => void,
    /** Closes the session of a record that is dropped or loses its entry. */
    private readonly closeSession: (rec: HostRecord) => void,
  ) {}

  /**
   * Last session's hosts: each stands in until its source answers, and every host new to this
   * session starts from its remembered status (shown while its agent has not answered yet).
   */
  remember(hosts: readonly RememberedHost[]): void {
    this.remembered = new Map(hosts.map((h) => [h.name, h]));
    this.merge();
  }

  /** Replace what one source lists. A source that will not answer this session sets []. */
  setSource(source: string, hosts: readonly SourceHost[]): void {
    this.sources.set(source, [...hosts]);
    this.merge();
  }

  /** The hosts each source lists now (settings first), then the remembered ones still standing in. */
  private listed(): Listed[] {
    const order = [...this.sources.keys()].sort((a, b) => Number(b === SETTINGS_SOURCE) - Number(a === SETTINGS_SOURCE));
    const byName = new Map<string, Listed>();
    for (const source of order) {
      for (const h of this.sources.get(source)!) {
        const seen = byName.get(h.name);
        if (!seen) {
          byName.set(h.name, { ...h, source });
          continue;
        }
        // A host both in settings and in the flake: the settings entry, the flake's attribute.
        seen.entry ??= h.entry;
        seen.discoveredIn ??= h.discoveredIn;
        if (!seen.entry) seen.platform = h.platform;
      }
    }
    for (const r of this.remembered.values()) {
      if (this.sources.has(r.source) || byName.has(r.name)) continue;
      // No entry: an address from last session is not trusted with a token before its source confirms it.
      byName.set(r.name, { name: r.name, platform: r.platform, discoveredIn: r.discoveredIn, source: r.source });
    }
    return [...byName.values()];
  }

  private merge(): void {
    const listed = this.listed();
    const names = new Set<string>();
    this.sourceOf.clear();
    for (const h of listed) {
      names.add(h.name);
      this.sourceOf.set(h.name, h.source);
      const standIn = !this.sources.has(h.source);
      const rec = this.records.get(h.name);
      if (!rec) {
        this.records.set(h.name, { snapshot: this.fresh(h, standIn), unsubscribe: [] });
        continue;
      }
      const s = rec.snapshot;
      if (h.entry) {
        s.entry = h.entry;
        s.platform = h.entry.platform;
        s.discoveredIn = h.discoveredIn;
        // Sessions open as soon as the fleet is started (view shown or a command run).
        if (s.connection === 'unconfigured') s.connection = 'connecting';
      } else if (s.entry || (s.connection !== 'unconfigured' && !standIn)) {
        // Its entry went (or a stand-in was confirmed without an agent): no session, nothing stale.
        this.closeSession(rec);
        rec.snapshot = { name: h.name, platform: h.platform, discoveredIn: h.discoveredIn, connection: 'unconfigured', runningOps: [] };
      } else {
        s.platform = h.platform;
        s.discoveredIn = h.discoveredIn;
      }
    }
    for (const [name, rec] of this.records) {
      if (!names.has(name)) {
        this.closeSession(rec);
        this.records.delete(name);
      }
    }
  }

  /** A new record's snapshot: what the source says, with the status remembered from last session. */
  private fresh(h: Listed, standIn: boolean): HostSnapshot {
    const r = this.remembered.get(h.name);
    // A stand-in waits for its source; one that had an agent last session shows "connecting…".
    const connection = h.entry || (standIn && r?.hadAgent) ? 'connecting' : 'unconfigured';
    const snapshot: HostSnapshot = { name: h.name, platform: h.entry?.platform ?? h.platform, entry: h.entry, discoveredIn: h.discoveredIn, connection, runningOps: [] };
    if (r && connection === 'connecting') {
      snapshot.status = r.status;
      snapshot.generations = r.generations;
      snapshot.agentVersion = r.agentVersion;
      snapshot.lastSeen = r.lastSeen;
    }
    return snapshot;
  }

  /** The source answered in this session (its hosts are no longer stand-ins). */
  answered(source: string): boolean {
    return this.sources.has(source);
  }

  /** Which source listed a host ("settings", "flake:nixosConfigurations", …). */
  source(name: string): string | undefined {
    return this.sourceOf.get(name);
  }

  get(name: string): HostRecord | undefined {
    return this.records.get(name);
  }

  all(): HostRecord[] {
    return [...this.records.values()];
  }

  /** The hosts in the view's order (viewOrder). */
  snapshots(): HostSnapshot[] {
    return this.all()
      .map((r) => r.snapshot)
      .sort(viewOrder);
  }

  update(rec: HostRecord, patch: Partial<HostSnapshot>): void {
    rec.snapshot = { ...rec.snapshot, ...patch };
    this.changed();
  }
}
