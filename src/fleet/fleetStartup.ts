// How the host list fills in when the Fleet view opens: last session's hosts and the settings'
// at once (no process spawned), then, side by side, the agents' sessions and (once the first
// row has its status) the flake's evaluation, each attribute merged in as it answers. No host waits
// for `nix eval`. The host list is written back (debounced) for the next session. No vscode
// import: the container hands in the settings, the flake to evaluate and the store; the bench
// drives this same class.
import { discoverFlakeHosts, FLAKE_ATTRIBUTES } from './discovery';
import { flakeSource, fromFlake, type Fleet } from './fleet';
import type { HostEntry } from './hostConfig';
import { readMemory, writeMemory, type KeyValueStore, type RememberedHost } from './hostMemory';
import { SETTINGS_SOURCE } from './hostRegistry';

/** The flake to list hosts from, or why there is none (`problem` unset: nothing to report). */
export type DiscoveryTarget = { dir: string } | { dir?: undefined; problem?: string };

/** The longest the flake's evaluation waits for the first row's status. */
const SPAWN_AFTER_MS = 200;

export interface StartupDeps {
  fleet: Fleet;
  /** `nixfleet.hosts`, parsed (cheap, synchronous). */
  settingsHosts(): { hosts: HostEntry[]; errors: string[] };
  /** Where to discover hosts: asks trust, settings and the file system, runs nothing. */
  discoveryTarget(): Promise<DiscoveryTarget>;
  /** Read the workspace checkout (commit, flake.lock) for the status rows. */
  readWorkspace?(): Promise<void>;
  /** Where last session's hosts are kept (workspaceState); none: nothing remembered. */
  memory?: KeyValueStore;
  discover?: typeof discoverFlakeHosts;
  /** How long after the last change the host list is written back. */
  saveDelayMs?: number;
  /** The longest the evaluation waits for the first row's status (default SPAWN_AFTER_MS). */
  firstRowWaitMs?: number;
}

export class FleetStartup {
  private started: Promise<void> | undefined;
  private discoveryRun = 0;
  private readonly remembered: RememberedHost[];
  private saveTimer: NodeJS.Timeout | undefined;
  private lastSaved = '';
  private readonly off: () => void;

  constructor(private readonly deps: StartupDeps) {
    this.remembered = deps.memory ? readMemory(deps.memory) : [];
    this.lastSaved = JSON.stringify(this.remembered);
    deps.fleet.remember(this.remembered);
    this.loadSettings();
    this.off = deps.fleet.onDidChange.on(() => this.queueSave());
  }

  /** Re-read `nixfleet.hosts`: the settings source. */
  loadSettings(): void {
    const { hosts, errors } = this.deps.settingsHosts();
    this.deps.fleet.setSource(SETTINGS_SOURCE, hosts.map((e) => ({ name: e.name, platform: e.platform, entry: e })), errors);
  }

  /**
   * Connect to the agents, evaluate the flake and read the workspace, side by side. Idempotent;
   * resolves when all three are done, while each host shows as soon as its own part answers.
   * The evaluation and the workspace's git start once the first row has its status (at most
   * SPAWN_AFTER_MS later): starting a process blocks this one for a few ms each (it forks a
   * large process), and this one carries the first host's handshake and status, which the
   * user waits for.
   */
  start(): Promise<void> {
    this.started ??= Promise.all([
      this.deps.fleet.start(),
      this.deps.fleet.firstRow(this.deps.firstRowWaitMs ?? SPAWN_AFTER_MS).then(() =>
        Promise.all([this.rediscover(), this.deps.readWorkspace?.().catch(() => undefined)]),
      ),
    ]).then(() => undefined);
    return this.started;
  }

  get isStarted(): boolean {
    return this.started !== undefined;
  }

  /** Evaluate the flake's host names again; each attribute replaces its hosts when it answers. */
  async rediscover(): Promise<void> {
    const run = ++this.discoveryRun;
    const current = () => run === this.discoveryRun;
    const fleet = this.deps.fleet;
    const none = (problem?: string) => {
      if (!current()) return;
      FLAKE_ATTRIBUTES.forEach(({ attribute }, i) => fleet.setSource(flakeSource(attribute), [], i === 0 && problem ? [problem] : []));
    };
    let target: DiscoveryTarget;
    try {
      target = await this.deps.discoveryTarget();
    } catch (err) {
      return none((err as Error).message);
    }
    if (target.dir === undefined) return none(target.problem);
    const discover = this.deps.discover ?? discoverFlakeHosts;
    try {
      await discover(target.dir, {
        onAttribute: (r) => {
          if (current()) fleet.setSource(flakeSource(r.attribute), r.hosts.map(fromFlake), r.error ? [r.error] : []);
        },
      });
    } catch (err) {
      none(`could not run nix eval: ${(err as Error).message}; is Nix installed and on PATH?`);
    }
  }

  private queueSave(): void {
    if (!this.deps.memory || this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      void this.save();
    }, this.deps.saveDelayMs ?? 2_000);
  }

  /** Write the host list for the next session now (also done on dispose). */
  async save(): Promise<void> {
    if (!this.deps.memory) return;
    const hosts = this.deps.fleet.memory(this.remembered);
    const json = JSON.stringify(hosts);
    if (json === this.lastSaved) return;
    this.lastSaved = json;
    // A store that cannot be written only costs the next session its head start.
    await writeMemory(this.deps.memory, hosts).then(undefined, () => undefined);
  }

  dispose(): void {
    this.off();
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    void this.save();
  }
}
