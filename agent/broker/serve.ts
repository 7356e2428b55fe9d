// `nixfleet-agent serve` with a `broker`: dial out to NATS, keep dialling (bounded
// exponential backoff with jitter), and while connected serve protocol sessions, publish
// the host's status, journals and audit records, and run queued ops. Every part resumes
// from what the broker already holds after a reconnect or a restart.
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { STATUS_BUCKET, requiresTls, subjects } from '../../protocol/broker';
import type { AgentConfig } from '../config';
import type { AgentCore } from '../server/core';
import { AuditPublisher } from './audit';
import { loadBrokerCredentials } from './credentials';
import { JournalPublisher } from './journal';
import { QueueRunner } from './queue';
import { BrokerSessions } from './sessions';
import { StatusPublisher } from './status';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** Ops whose journals are checked against the stream at every (re)connect. */
const RECENT_OPS = 100;

export function brokerServers(config: AgentConfig): string[] {
  const b = config.broker;
  return b === undefined ? [] : Array.isArray(b) ? b : [b];
}

export interface BrokerService {
  close(): Promise<void>;
}

export function startBroker(core: AgentCore, log: (text: string) => void): BrokerService {
  const { config } = core;
  const servers = brokerServers(config);
  // Read once at start: a bad file stops `serve` with its one-sentence error.
  const authenticator = config.brokerCredentials ? loadBrokerCredentials(config.brokerCredentials) : undefined;
  if (!authenticator) log(`warning: no brokerCredentials: controllers on the broker are not authenticated, so mutating ops over the broker are refused (read-only); see docs/broker.md`);
  let failures = 0;
  const backoff = () => {
    const d = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(failures++, 16));
    return d / 2 + Math.random() * (d / 2);
  };
  let closed = false;
  let current: { nc: NatsConnection; stop(): Promise<void> } | undefined;
  let sleeper: { timer: NodeJS.Timeout; resolve(): void } | undefined;
  let lastError = '';
  let repeats = 0;

  const run = async () => {
    while (!closed) {
      try {
        const nc = await connect({
          servers,
          authenticator,
          // The server certificate is checked against Node's CA store (NODE_EXTRA_CA_CERTS adds a private CA).
          ...(requiresTls(servers) ? { tls: {} } : {}),
          name: `nixfleet-agent ${config.host}`,
          // Replies to this host's JetStream requests arrive under its own prefix: its
          // credentials may subscribe there and nowhere else but its request subjects.
          inboxPrefix: subjects.hostInbox(config.host),
          // Once connected, the client reconnects by itself; a first dial that fails comes
          // back here, to be logged and retried with the same backoff.
          maxReconnectAttempts: -1,
          reconnectDelayHandler: backoff,
          pingInterval: 10_000,
          maxPingOut: 2,
        });
        if (closed) {
          await nc.close();
          break;
        }
        failures = 0;
        lastError = '';
        log(`connected to broker ${nc.getServer()} as host ${config.host}`);
        current = { nc, stop: attach(core, nc, !!authenticator, log, () => (failures = 0)) };
        const err = await nc.closed();
        await current.stop();
        current = undefined;
        if (!closed) log(`broker connection closed${err ? `: ${err.message}` : ''}; dialling again`);
      } catch (err) {
        // Said once, then every tenth time while it stays the same (the backoff reaches 30 s).
        const msg = `cannot connect to broker ${servers.join(', ')}: ${(err as Error).message}; retrying`;
        if (msg !== lastError || ++repeats % 10 === 0) log(msg);
        if (msg !== lastError) repeats = 0;
        lastError = msg;
      }
      if (closed) break;
      await new Promise<void>((resolve) => {
        sleeper = { timer: setTimeout(resolve, backoff()), resolve };
      });
    }
  };
  void run();

  return {
    async close() {
      closed = true;
      if (sleeper) {
        clearTimeout(sleeper.timer);
        sleeper.resolve();
      }
      const c = current;
      if (c) {
        await c.stop();
        await c.nc.drain().catch(() => c.nc.close());
      }
    },
  };
}

/** Everything that runs while one connection is up; returns its stop function. */
function attach(core: AgentCore, nc: NatsConnection, authenticated: boolean, log: (text: string) => void, onReconnect: () => void): () => Promise<void> {
  const host = core.config.host;
  const js = jetstream(nc);
  let stopped = false;
  const parts = (async () => {
    // checkAPI: false — a host may not read account info; it only needs its own subjects.
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const kv = await new Kvm(js).open(STATUS_BUCKET);
    const journals = new JournalPublisher(host, core.manager, js, jsm, log);
    const sessions = new BrokerSessions(core, nc, authenticated, (op) => journals.track(op), log);
    const status = new StatusPublisher(core, kv, log);
    const audit = new AuditPublisher(host, core.config.stateDir, js, jsm, log);
    const queue = new QueueRunner(core, js, jsm, authenticated, (op) => journals.track(op), log);
    const onState = (info: { id: string }) => journals.track(info.id);
    core.manager.on('state', onState);
    core.manager.on('end', onState);
    sessions.start();
    status.start();
    audit.start();
    queue.start();
    for (const op of core.manager.list(RECENT_OPS)) journals.track(op.id);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          // Frames sent meanwhile may be lost: clients open new sessions and replay journals from the stream.
          sessions.dropAll('the agent lost its broker connection');
          log(`lost the broker connection (${s.server}); reconnecting`);
        } else if (s.type === 'reconnect') {
          onReconnect(); // the next outage starts its backoff from the shortest delay again
          log(`reconnected to broker ${s.server}`);
          journals.kick();
          audit.kick();
          void status.publish(true);
        } else if (s.type === 'error') {
          log(`broker: ${s.error.message}`);
        }
      }
    })();
    return async () => {
      core.manager.off('state', onState);
      core.manager.off('end', onState);
      sessions.close('the agent is stopping');
      queue.close();
      audit.close();
      journals.close();
      if (!nc.isClosed()) await status.stop();
    };
  })();
  return async () => {
    if (stopped) return;
    stopped = true;
    const stop = await parts.catch((err: Error) => {
      log(`broker services did not start: ${err.message}`);
      return async () => {};
    });
    await stop();
  };
}
