// Hosts reached through a NATS broker (docs/broker.md): the fleet is what the broker's
// status bucket holds, watched live for the length of the command, and every session is a
// BrokerTransport on one shared connection. Ops, journals and replay are those of
// src/broker/ unchanged; the CLI only adds the operator's credentials file and the list.
import { readFileSync } from 'node:fs';
import { credentialsAuthenticator } from '../../../protocol/brokerCredentials';
import { STATUS_BUCKET } from '../../../protocol/broker';
import { AGENT_VERSION } from '../../../agent/version';
import { BrokerClient } from '../../broker/client';
import { FleetStatusWatcher, type FleetHost } from '../../broker/fleetStatus';
import { openAgentSession } from '../../fleet/agentSession';
import type { AgentSession } from '../../fleet/session';
import { cliClientName } from './direct';
import type { HostSource, SourceHost } from './source';
import { checkPrivateFile } from './tokens';

export class CredentialsError extends Error {
  override name = 'CredentialsError';
}

const BROKER_URL_RE = /^(nats|tls):\/\/[^\s/@,]+$/;
const MAX_CREDENTIALS_BYTES = 64 * 1024;

/** `--broker nats://a:4222,tls://b:4222`: each URL checked, none twice. */
export function parseBrokerUrls(text: string): string[] | string {
  const urls = text.split(',').map((s) => s.trim());
  for (const u of urls) {
    if (!BROKER_URL_RE.test(u)) return `"${u}" is not a broker address: give nats://HOST:PORT or tls://HOST:PORT, several separated by commas, with no user or password in them (use --credentials FILE)`;
  }
  if (new Set(urls).size !== urls.length) return `"${text}" names a broker address twice; give each once`;
  return urls;
}

/** The operator's NATS credentials (nkey seed or .creds): a 0600 file of the caller's, valid in form. */
export function readCredentialsFile(file: string, uid = process.getuid?.()): string {
  checkPrivateFile(file, 'credentials file', 'write it with "nixfleet-agent broker-config --operators NAME" (operators/NAME.nk)', CredentialsError, uid);
  const text = readFileSync(file, 'utf8');
  if (Buffer.byteLength(text) > MAX_CREDENTIALS_BYTES) throw new CredentialsError(`credentials file ${file} is larger than 64 KiB; give the NATS nkey seed or .creds file itself`);
  try {
    credentialsAuthenticator(text, `credentials file ${file}`);
  } catch (err) {
    throw new CredentialsError((err as Error).message);
  }
  return text;
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
  const offline = h.record.online
    ? `its agent's last status reached the broker at ${new Date(h.seenAt).toISOString()} (more than three heartbeats ago); check that the agent runs and reaches the broker`
    : `its agent stopped at ${h.record.heartbeatAt}; start it again`;
  return {
    name: h.host,
    platform: s?.platform ?? null,
    address: `broker ${urls.join(',')}`,
    recorded: {
      online: h.online,
      generation: s?.currentGeneration ?? null,
      runningOp: s?.busy ? { id: s.busy.op, kind: s.busy.kind, since: s.busy.since } : null,
      agentVersion: s?.agentVersion ?? null,
      ...(h.online ? (h.record.error ? { error: `host ${h.host}: ${h.record.error}` } : {}) : { error: `host ${h.host} is offline: ${offline}` }),
    },
  };
}
