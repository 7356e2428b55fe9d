// The fleet: every host from settings and the workspace flake, one agent session per
// configured host, the last known state of each, and ops started and followed by seq.
// No vscode import: the extension renders this, the unit tests drive it against real agents.
// Each job is its own part: the host registry, the connections (sessions), the refresh, the
// op follower (and, inside it, the magic-rollback confirmation); this class puts them together.
import type { HostStatus, OpInfo, OpKind } from '../../protocol';
import { followBuildProgress } from './buildProgress';
import { Connections, type ConnectionDeps } from './connections';
import { FLAKE_ATTRIBUTES, type DiscoveredHost } from './discovery';
import { FleetEvents } from './fleetEvents';
import { BROKER_ADDRESS, type HostEntry } from './hostConfig';
import { HostRefresh } from './hostRefresh';
import { memoryOf, type RememberedHost } from './hostMemory';
import { HostRegistry, SETTINGS_SOURCE, type SourceHost } from './hostRegistry';
import type { HostSnapshot } from './hostSnapshot';
import { OpFollower, type RunOpOptions } from './opFollower';
import type { AgentSession } from './session';
import type { WorkspaceInfo } from './workspace';

export type { OutputEvent } from './fleetEvents';
export type { RunOpOptions } from './opFollower';

export interface FleetDeps extends ConnectionDeps {
  refreshDelayMs?: number;
}

export class Fleet {
  private readonly events = new FleetEvents();
  private readonly registry: HostRegistry;
  private readonly connections: Connections;
  private readonly hostRefresh: HostRefresh;
  private readonly ops: OpFollower;
  private readonly offBuildProgress: () => void;

  /** Each source's problems (bad settings entries, failed evaluations), shown as message nodes. */
  private readonly sourceProblems = new Map<string, string[]>();
  workspace: WorkspaceInfo | undefined;

  readonly onDidChange = this.events.onDidChange;
  readonly onOutput = this.events.onOutput;
  readonly onOpEnd = this.events.onOpEnd;
  readonly onOpStart = this.events.onOpStart;
  readonly onNotice = this.events.onNotice;

  constructor(deps: FleetDeps) {
    this.registry = new HostRegistry(
      () => {
        this.connections?.noticeChange();
        this.events.onDidChange.fire();
      },
      (rec) => this.connections.close(rec),
    );
    this.connections = new Connections(deps, this.registry, {
      online: (rec) => {
        this.ops.resume(rec);
        void this.hostRefresh.refreshNow(rec.snapshot.name);
      },
      hostStatus: (rec, status, before) => {
        if (!before || before.currentGeneration !== status.currentGeneration || before.lastChecks?.at !== status.lastChecks?.at) {
          void this.refresh(rec.snapshot.name);
        }
      },
      opEvent: (rec, e) => this.ops.onOpEvent(rec, e),
    });
    this.hostRefresh = new HostRefresh(this.registry, () => this.ops, deps.refreshDelayMs ?? 100);
    this.ops = new OpFollower(this.registry, this.connections, this.events, (host) => void this.refresh(host));
    this.offBuildProgress = followBuildProgress(this.events, this.registry);
  }

  // ------------------------------------------------------------ hosts

  /** Replace the whole host list (settings entries + flake discovery). Sessions follow when started. */
  configure(entries: HostEntry[], discovered: DiscoveredHost[], problems: string[]): void {
    this.setSource(SETTINGS_SOURCE, entries.map((e) => ({ name: e.name, platform: e.platform, entry: e })), problems);
    for (const { attribute } of FLAKE_ATTRIBUTES) {
      this.setSource(flakeSource(attribute), discovered.filter((d) => d.attribute === attribute).map(fromFlake));
    }
  }

  /**
   * Replace what one source lists (settings, a flake attribute, the broker…), with its problems.
   * Hosts of the other sources stay as they are; sessions follow when started.
   */
  setSource(source: string, hosts: readonly SourceHost[], problems: readonly string[] = []): void {
    this.sourceProblems.set(source, [...problems]);
    this.registry.setSource(source, hosts);
    this.connections.configured();
    this.events.onDidChange.fire();
  }

  /** Problems of every source, the settings' first. */
  get problems(): string[] {
    const settings = this.sourceProblems.get(SETTINGS_SOURCE) ?? [];
    return [...settings, ...[...this.sourceProblems].flatMap(([s, p]) => (s === SETTINGS_SOURCE ? [] : p))];
  }

  /** Last session's hosts (hostMemory.ts): listed until their source answers, with their last status. */
  remember(hosts: readonly RememberedHost[]): void {
    this.registry.remember(hosts);
    this.connections.configured();
    this.events.onDidChange.fire();
  }

  /** What to keep for the next session, given what was remembered at the start of this one. */
  memory(previous: readonly RememberedHost[]): RememberedHost[] {
    return memoryOf(this.registry, previous);
  }

  hosts(): HostSnapshot[] {
    return this.registry.snapshots();
  }

  host(name: string): HostSnapshot | undefined {
    return this.registry.get(name)?.snapshot;
  }

  /** The hosts that have an agent configured. */
  configuredHosts(): HostSnapshot[] {
    return this.hosts().filter((h) => h.entry);
  }

  /**
   * What a shared status source (the broker's status bucket) says of a host reached through
   * it (address "broker"), live. It is what the row shows while this window has no live
   * session with the host (not started yet, or the session is down); a live session's own
   * messages win. A host that comes back online there gets a new session attempt at once
   * instead of at the next backoff.
   */
  recorded(host: string, r: { online: boolean; status?: HostStatus; problem?: string }): void {
    const rec = this.registry.get(host);
    // A host with a direct address is shown as its own session finds it, whatever the bucket says.
    if (rec?.snapshot.entry?.address !== BROKER_ADDRESS) return;
    const state = rec.session?.state;
    if (state?.state === 'online') return;
    if (r.online && state?.state === 'offline') {
      // Retrying cannot help a fatal failure (e.g. the wrong agent answered): keep its reason.
      if (state.fatal) return;
      void this.connections.reconnect(host);
    }
    this.registry.update(rec, {
      connection: r.online ? 'online' : 'offline',
      problem: r.online ? undefined : r.problem,
      ...(r.status ? { status: r.status, agentVersion: r.status.agentVersion } : {}),
    });
  }

  setWorkspace(info: WorkspaceInfo | undefined): void {
    this.workspace = info;
    this.events.onDidChange.fire();
  }

  // ------------------------------------------------------------ sessions

  /** Open sessions to every configured host. Called when the view is shown or a command runs. */
  start(): Promise<void> {
    return this.connections.start();
  }

  get isStarted(): boolean {
    return this.connections.isStarted;
  }

  /** Resolves once the first row has its status (or its host answered offline), at once with no agent to ask, or after `waitMs`. */
  firstRow(waitMs: number): Promise<void> {
    return this.connections.firstRow(waitMs);
  }

  /** Close and reopen one host's session (e.g. after its token changed). */
  reconnect(host: string): Promise<void> {
    return this.connections.reconnect(host);
  }

  /** Try again now for hosts that are offline (Refresh): a fresh session with the current token. */
  retryOffline(host?: string): Promise<void> {
    return this.connections.retryOffline(host);
  }

  /**
   * The live session of a configured host. An offline host gets one fresh connection attempt
   * (with the current token) and the command fails fast with the reason if that fails too.
   */
  session(host: string): Promise<AgentSession> {
    return this.connections.session(host);
  }

  // ------------------------------------------------------------ refresh

  /** Fetch status, generations and running ops of one host (or all), batched. */
  refresh(host?: string): Promise<void> {
    return this.hostRefresh.refresh(host);
  }

  // ------------------------------------------------------------ ops

  /**
   * Start an op on a host and follow it to its end. Resolves with the final OpInfo (whatever
   * its state); rejects only when the op could not be started (offline, busy, invalid).
   * Aborting `signal` sends op.cancel; the promise still resolves with the op's final state.
   */
  runOp(host: string, kind: OpKind, params: Record<string, unknown>, opts: RunOpOptions = {}): Promise<OpInfo> {
    return this.ops.runOp(host, kind, params, opts);
  }

  /**
   * Replay the journals of the host's most recent ops that this window has not shown yet
   * (e.g. after a reload), oldest first, into the output events. Returns the ops replayed.
   */
  replayRecent(host: string, count = 3): Promise<OpInfo[]> {
    return this.ops.replayRecent(host, count);
  }

  dispose(): void {
    this.offBuildProgress();
    this.hostRefresh.dispose();
    this.connections.dispose();
    this.ops.dispose();
    this.events.clear();
  }
}

/** The registry source of one flake attribute: each answers on its own (discovery.ts). */
export function flakeSource(attribute: string): string {
  return `flake:${attribute}`;
}

export function fromFlake(d: DiscoveredHost): SourceHost {
  return { name: d.name, platform: d.platform, discoveredIn: d.attribute };
}
