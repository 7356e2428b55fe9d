// The broker as a source of hosts for the fleet (the extension's, or any vscode-free user):
// one BrokerClient and one watch of the status bucket. Hosts found there that have no
// nixfleet.hosts entry join the fleet with address "broker" (hostConfig.ts BROKER_ADDRESS),
// their sessions run on BrokerTransport, and what the bucket says of each host (online,
// status) is handed on as it changes, so the rows are live before any session opens and
// while one is down. An entry with a direct address wins: that host is reached directly.
import { printable, type Platform } from '../../protocol';
import { openAgentSession } from '../fleet/agentSession';
import { BROKER_ADDRESS, type AgentEndpoint, type HostEntry } from '../fleet/hostConfig';
import type { SourceHost } from '../fleet/hostRegistry';
import type { AgentSession } from '../fleet/session';
import { Transport, type TransportFactory } from '../fleet/transport';
import { BrokerClient } from './client';
import { FleetStatusWatcher, offlineReason, type FleetHost } from './fleetStatus';

export interface BrokerDiscoveryOptions {
  servers: string[];
  /** The operator's credentials (text of an nkey seed or .creds file); none: the server must not ask for any. */
  credentials: string | undefined;
  /** How the broker's connection list and the hosts' audit logs name this controller. */
  clientName: string;
  /** The set of hosts in the bucket (or a host's platform) changed, or the connection's problem did. */
  onHostsChanged(): void;
  /** What the bucket says of one host, each time it changes (and once per host after connecting). */
  onRecord(host: string, recorded: RecordedState): void;
  /** Delay between connection attempts after a failure (doubling up to max). */
  retry?: { initialDelayMs: number; maxDelayMs: number };
}

/** A host as the status bucket shows it, in the fleet's terms. */
export interface RecordedState {
  online: boolean;
  status?: FleetHost['record']['status'];
  /** Why it is offline, with what to do. */
  problem?: string;
}

/** The fleet's name for this source of hosts (Fleet.setSource). */
export const BROKER_SOURCE = 'broker';

/** What a host found only in the bucket gets as platform until its agent reports one. */
const UNKNOWN_PLATFORM: Platform = 'nixos';

export class BrokerDiscovery {
  private client: BrokerClient | undefined;
  private watcher: FleetStatusWatcher | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private delay: number;
  private readonly platforms = new Map<string, Platform>();
  private readonly watchers = new Set<(h: FleetHost) => void>();
  private first: Promise<void> | undefined;
  /** Why there is no connection (shown with the fleet's problems), or undefined when connected. */
  problem: string | undefined;

  constructor(private readonly o: BrokerDiscoveryOptions) {
    this.delay = o.retry?.initialDelayMs ?? 1000;
  }

  get description(): string {
    return this.o.servers.join(',');
  }

  get connected(): boolean {
    return this.client !== undefined && !this.client.nc.isClosed();
  }

  /** Connect and load the bucket; resolves after the first attempt (failures set `problem` and retry). */
  start(): Promise<void> {
    this.first ??= this.attempt();
    return this.first;
  }

  private async attempt(): Promise<void> {
    if (this.closed) return;
    let client: BrokerClient | undefined;
    try {
      client = await BrokerClient.connect({ servers: this.o.servers, credentials: this.o.credentials, name: this.o.clientName });
      const watcher = await FleetStatusWatcher.start(client.js);
      if (this.closed) {
        watcher.close();
        await client.close();
        return;
      }
      this.client = client;
      this.watcher = watcher;
      this.problem = undefined;
      this.delay = this.o.retry?.initialDelayMs ?? 1000;
      client.onClosed.on((reason) => this.lost(client!, reason));
      watcher.onHost.on((h) => this.onHost(h));
      watcher.onRemoved.on((host) => {
        this.platforms.delete(host);
        this.o.onHostsChanged();
      });
      for (const h of watcher.list()) this.platforms.set(h.host, platformOf(h));
      this.o.onHostsChanged();
      for (const h of watcher.list()) this.o.onRecord(h.host, recorded(h));
    } catch (err) {
      await client?.close().catch(() => undefined);
      this.fail((err as Error).message);
    }
  }

  /** Every change of a host's record from now on, until the returned function is called. */
  watch(listener: (h: FleetHost) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  private onHost(h: FleetHost): void {
    for (const l of this.watchers) l(h);
    const platform = platformOf(h);
    if (this.platforms.get(h.host) !== platform) {
      this.platforms.set(h.host, platform);
      this.o.onHostsChanged();
    }
    this.o.onRecord(h.host, recorded(h));
  }

  /** The connection is gone for good (the server refused the credentials, or it was closed). */
  private lost(client: BrokerClient, reason: string): void {
    if (this.client !== client || this.closed) return;
    this.watcher?.close();
    this.watcher = undefined;
    this.client = undefined;
    this.fail(reason);
  }

  private fail(reason: string): void {
    const auth = /authori[sz]ation|authentication|credentials|nkey|user/i.test(reason);
    this.problem = `cannot reach the broker ${this.description} (nixfleet.broker): ${printable(reason, 300)}; ${
      auth ? 'check the operator credentials with "NixFleet: Set Broker Credentials"' : 'retrying; check the address and that nats-server runs'
    }`;
    this.o.onHostsChanged();
    // Wrong credentials stay wrong: a new set of them starts a new discovery.
    if (auth || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.attempt();
    }, this.delay);
    this.timer.unref();
    this.delay = Math.min(this.delay * 2, this.o.retry?.maxDelayMs ?? 30_000);
  }

  /** What the bucket holds of `host`, when connected. */
  record(host: string): FleetHost | undefined {
    return this.watcher?.get(host);
  }

  /** The connection's JetStream (queue, journals), when connected. */
  get js(): BrokerClient['js'] | undefined {
    return this.connected ? this.client!.js : undefined;
  }

  /** The bucket's hosts, by name. */
  hosts(): FleetHost[] {
    return this.watcher?.list() ?? [];
  }

  /** The bucket's hosts as a source of the fleet's list (Fleet.setSource): reached through the broker unless another source gives an entry. */
  sourceHosts(): SourceHost[] {
    return [...this.platforms].sort(([a], [b]) => a.localeCompare(b)).map(([host, platform]) => ({ name: host, platform, entry: { name: host, address: BROKER_ADDRESS, platform } }));
  }

  /**
   * Sessions with `host` over the broker. While the broker is not connected, or its bucket
   * shows the host offline, an attempt fails at once with that reason (the bucket's says
   * when the agent stopped) and is retried; the host coming back online in the bucket
   * starts a new attempt (Fleet.recorded).
   */
  transport(host: string): TransportFactory {
    return () => {
      if (!this.client || this.client.nc.isClosed()) return new UnreachableTransport(`broker ${this.description}`, `host ${host}: ${this.problem ?? `the broker ${this.description} is not connected yet`}`, false);
      const h = this.watcher?.get(host);
      if (h && !h.online) return new UnreachableTransport(`broker ${this.description}`, offlineReason(h), false);
      return this.client.transport(host)();
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
    const c = this.client;
    this.client = undefined;
    await c?.close();
  }
}

export interface FleetSessionOptions {
  entry: HostEntry;
  endpoint: AgentEndpoint;
  token: string | undefined;
  clientName: string;
  clientVersion: string;
  /** The broker for entries with address "broker", asked at each connection attempt (it is replaced when its setting or credentials change); undefined when nixfleet.broker is not set. */
  broker: () => BrokerDiscovery | undefined;
  requestTimeoutMs?: number;
}

/** The fleet's session with one host, over whatever its entry says: ws/wss, ssh, or the broker. */
export function openFleetSession(o: FleetSessionOptions): AgentSession {
  const common = { entry: o.entry, clientName: o.clientName, clientVersion: o.clientVersion, ...(o.requestTimeoutMs ? { requestTimeoutMs: o.requestTimeoutMs } : {}) };
  if (o.endpoint.kind !== 'broker') return openAgentSession({ ...common, endpoint: o.endpoint, token: o.token });
  const host = o.entry.name;
  const transport: TransportFactory = () => {
    const broker = o.broker();
    if (broker) return broker.transport(host)();
    return new UnreachableTransport('broker', `host ${host} is reached through the broker, and nixfleet.broker is not set: set it to the broker's nats:// or tls:// URL`, true);
  };
  // The broker checked the operator's credentials; agent tokens are for direct connections.
  return openAgentSession({ ...common, token: undefined, transport });
}

/** A connection attempt that cannot be made, failing with the reason once its listeners are in place. */
class UnreachableTransport extends Transport {
  constructor(
    readonly description: string,
    reason: string,
    fatal: boolean,
  ) {
    super();
    setImmediate(() => this.onClose.fire({ reason, fatal }));
  }
  send(): void {}
  close(): void {}
}

function platformOf(h: FleetHost): Platform {
  return h.record.status?.platform ?? UNKNOWN_PLATFORM;
}

function recorded(h: FleetHost): RecordedState {
  return { online: h.online, ...(h.record.status ? { status: h.record.status } : {}), ...(h.online ? {} : { problem: offlineReason(h) }) };
}
