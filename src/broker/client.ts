// A controller's one connection to the broker, shared by every host: protocol sessions
// (BrokerTransport), the fleet's status (FleetStatusWatcher), journals and the op queue.
// No VS Code here: the extension, the CLI, tests and benches use it alike.
import { Emitter } from '../fleet/emitter';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { brokerUrlsProblem, requiresTls } from '../../protocol/broker';
import { credentialsAuthenticator } from '../../protocol/brokerCredentials';
import type { TransportFactory } from '../fleet/transport';
import { JournalPositions } from './journal';
import { BrokerTransport, type BrokerLink } from './transport';
import { ensureBroker } from './setup';

export interface BrokerClientOptions {
  /** nats:// or tls:// URL(s) of the broker (one cluster). */
  servers: string | string[];
  /** Operator credentials: the text of an nkey seed or .creds file (never a path in settings). */
  credentials?: string;
  /** PEM of a private CA that signed the broker's certificate (tls:// URLs); default: Node's CA store. */
  ca?: string;
  /** Shown by the server (connz) and in messages. */
  name?: string;
  /** Create the streams and the bucket when missing, with this many replicas (default: do not). */
  ensure?: { replicas: number };
}

/** The controller's connection to the broker; each host session (BrokerTransport) runs over it. */
export class BrokerClient implements BrokerLink {
  readonly onDisconnect = new Emitter<void>();
  readonly onReconnect = new Emitter<void>();
  /** The connection is gone for good (closed, or refused the credentials): why. */
  readonly onClosed = new Emitter<string>();
  readonly js: JetStreamClient;
  readonly positions = new JournalPositions();
  readonly description: string;

  private constructor(
    readonly nc: NatsConnection,
    readonly jsm: JetStreamManager,
    servers: string[],
  ) {
    this.js = jetstream(nc);
    this.description = servers.join(',');
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.onDisconnect.fire();
        else if (s.type === 'reconnect') this.onReconnect.fire();
      }
    })();
    void nc.closed().then((err) => this.onClosed.fire(err ? err.message : 'closed'));
  }

  static async connect(opts: BrokerClientOptions): Promise<BrokerClient> {
    const servers = Array.isArray(opts.servers) ? opts.servers : [opts.servers];
    const problem = brokerUrlsProblem(servers, 'the broker address');
    if (problem) throw new Error(problem);
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers,
        ...(opts.credentials ? { authenticator: credentialsAuthenticator(opts.credentials, 'the broker credentials') } : {}),
        ...(requiresTls(servers) ? { tls: opts.ca ? { ca: opts.ca } : {} } : {}),
        name: opts.name ?? 'nixfleet controller',
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1000,
        pingInterval: 10_000,
        maxPingOut: 2,
      });
    } catch (err) {
      throw new Error(`cannot connect to the broker at ${servers.join(', ')}: ${(err as Error).message}; check the address and the operator credentials`);
    }
    try {
      const jsm = await jetstreamManager(nc);
      if (opts.ensure) await ensureBroker(nc, jsm, opts.ensure.replicas);
      return new BrokerClient(nc, jsm, servers);
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  /** Sessions with `host` for AgentClient: a new BrokerTransport per (re)connect. */
  transport(host: string): TransportFactory {
    return () => new BrokerTransport(this, host);
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}
