// Hosts reached through a NATS broker (docs/broker.md): the fleet is what the broker's
// status bucket holds, watched live for the length of the command, and every session is a
// BrokerTransport on one shared connection. Ops, journals and replay are those of
// src/broker/ unchanged; the CLI only adds the operator's credentials file and the list.
import { STATUS_BUCKET, brokerUrlsProblem } from '../../../protocol/broker';
import { AGENT_VERSION } from '../../../agent/version';
import { BrokerClient } from '../../broker/client';
import { FleetStatusWatcher, offlineReason, type FleetHost } from '../../broker/fleetStatus';
import { openAgentSession } from '../../fleet/agentSession';
import type { AgentSession } from '../../fleet/session';
import { cliClientName } from './direct';
import type { HostSource, SourceHost } from './source';

export { CredentialsError, readCredentialsFile } from '../../broker/credentials';

/** `--broker nats://a:4222,tls://b:4222`: each URL checked, none twice; a string saying what is wrong otherwise. */
export function parseBrokerUrls(text: string): string[] | string {
  const urls = text.split(',').map((s) => s.trim());
  return brokerUrlsProblem(urls, '--broker') ?? urls;
}

export class BrokerHostSource implements HostSource {
  private constructor(
    private readonly broker: BrokerClient,
    private readonly fleet: FleetStatusWatcher,
    private readonly urls: readonly string[],
    private readonly requestTimeoutMs: number,
  ) {}

  /** Connect and load the status bucket; throws one sentence saying what to check. */
  static async connect(urls: string[], credentials: string | undefined, requestTimeoutMs = 60_000): Promise<BrokerHostSource> {
    const broker = await BrokerClient.connect({ servers: urls, credentials, name: cliClientName() });
    try {
      const fleet = await FleetStatusWatcher.start(broker.js);
      return new BrokerHostSource(broker, fleet, urls, requestTimeoutMs);
    } catch (err) {
      await broker.close();
      throw new Error(`${(err as Error).message}; a controller creates the bucket ${STATUS_BUCKET} and the streams the first time it connects (docs/broker.md), and agents publish their status once it exists`);
    }
  }

  get description(): string {
    return `the status bucket of broker ${this.urls.join(',')}`;
  }

  hosts(): SourceHost[] {
    return this.fleet.list().map((h) => sourceHost(h, this.urls));
  }

  checkCanOperate(host: string): void {
    // The operator's credentials are the authorisation (the agent trusts what the broker let
    // through); whether the host is online is asked when the session opens.
    if (!this.fleet.get(host)) throw new Error(`host ${host} has no record in ${this.description}; start its agent with broker set, or pick a listed host`);
  }

  open(host: string): AgentSession {
    return openAgentSession({
      entry: { name: host, address: `broker ${this.urls.join(',')}`, platform: this.fleet.get(host)?.record.status?.platform ?? 'nixos' },
      token: undefined,
      transport: this.broker.transport(host),
      clientName: cliClientName(),
      clientVersion: AGENT_VERSION.slice(0, 64),
      requestTimeoutMs: this.requestTimeoutMs,
      retryAdvice: 'run the command again',
    });
  }

  async close(): Promise<void> {
    this.fleet.close();
    await this.broker.close();
  }
}

function sourceHost(h: FleetHost, urls: readonly string[]): SourceHost {
  const s = h.record.status;
  return {
    name: h.host,
    platform: s?.platform ?? null,
    address: `broker ${urls.join(',')}`,
    recorded: {
      online: h.online,
      generation: s?.currentGeneration ?? null,
      runningOp: s?.busy ? { id: s.busy.op, kind: s.busy.kind, since: s.busy.since } : null,
      agentVersion: s?.agentVersion ?? null,
      ...(h.online ? (h.record.error ? { error: `host ${h.host}: ${h.record.error}` } : {}) : { error: offlineReason(h) }),
    },
  };
}
