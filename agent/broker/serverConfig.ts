// `nixfleet-agent broker-config`: the nats-server side of docs/broker.md for a list of
// hosts. One account (NIXFLEET, JetStream enabled) whose users are nkeys:
//   - one per host, allowed to receive only its own requests and to publish only its own
//     replies, status, journals and audit records, and to read only its own queue;
//   - operators (controllers), allowed to open sessions with any host, queue ops and use
//     the JetStream API (they create the streams and the bucket, see src/broker/setup.ts).
// Writes nats-server.conf (standalone), accounts.json (the same accounts block, for
// NixOS services.nats.settings) and one 0600 seed file per host and operator. Seeds
// that already exist are kept, so re-running it for a longer host list changes nothing
// for the hosts already deployed. Public keys are no secret; the seed files are.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createUser, fromSeed } from '@nats-io/nkeys';
import { HOST_NAME_RE, printable } from '../../protocol';
import { BROKER_MAX_PAYLOAD, STATUS_BUCKET, STREAMS, hostToken, queueConsumer, subjects } from '../../protocol/broker';

const OPERATOR_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

export interface BrokerConfigOptions {
  hosts: string[];
  operators: string[];
  out: string;
  port: number;
  storeDir: string;
}

export interface Permissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
}

/** What host `host`'s credentials may do: nothing that names another host. */
export function hostPermissions(host: string): Permissions {
  const t = hostToken(host);
  const durable = queueConsumer(host);
  return {
    publish: {
      allow: [
        subjects.replies(host),
        subjects.journals(host),
        subjects.audit(host),
        `$KV.${STATUS_BUCKET}.${t}`,
        // Where its copies stand (resume after a restart): direct gets of its own subjects only.
        `$JS.API.DIRECT.GET.${STREAMS.journal}.${subjects.journals(host)}`,
        `$JS.API.DIRECT.GET.${STREAMS.audit}.${subjects.audit(host)}`,
        // Its own queue consumer, filtered to its own queue subject.
        `$JS.API.CONSUMER.CREATE.${STREAMS.queue}.${durable}.${subjects.queue(host)}`,
        `$JS.API.CONSUMER.DURABLE.CREATE.${STREAMS.queue}.${durable}`,
        `$JS.API.CONSUMER.INFO.${STREAMS.queue}.${durable}`,
        `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.queue}.${durable}`,
        `$JS.ACK.${STREAMS.queue}.${durable}.>`,
      ],
    },
    subscribe: { allow: [subjects.hostRequests(host), `${subjects.hostInbox(host)}.>`] },
  };
}

/** Operators: sessions with every host, the queue, the JetStream API; never a host's own subjects. */
export function operatorPermissions(): Permissions {
  return {
    publish: { allow: [subjects.anySession, subjects.anyQueue, '$JS.API.>', '$JS.FC.>'] },
    subscribe: { allow: [subjects.anyReply, '_INBOX.>'] },
  };
}

function seedFor(file: string): { seed: string; publicKey: string; created: boolean } {
  if (existsSync(file)) {
    const seed = readFileSync(file, 'utf8').trim();
    try {
      return { seed, publicKey: fromSeed(new TextEncoder().encode(seed)).getPublicKey(), created: false };
    } catch {
      throw new Error(`${file} exists but holds no nkey seed; remove it to have a new one written`);
    }
  }
  const kp = createUser();
  const seed = new TextDecoder().decode(kp.getSeed());
  writeFileSync(file, seed + '\n', { mode: 0o600, flag: 'wx' });
  return { seed, publicKey: kp.getPublicKey(), created: true };
}

export function validateNames(hosts: string[], operators: string[]): void {
  if (!hosts.length) throw new Error('give the hosts with --hosts a,b,c (flake attribute names)');
  for (const h of hosts) if (!HOST_NAME_RE.test(h)) throw new Error(`"${printable(h)}" is not a host name (letters, digits, "_" and "-", optionally user@host)`);
  for (const o of operators) if (!OPERATOR_RE.test(o)) throw new Error(`"${printable(o)}" is not an operator name (letters, digits, ".", "_" and "-")`);
  const dup = [...hosts, ...operators.map((o) => `operator ${o}`)].find((n, i, all) => all.indexOf(n) !== i);
  if (dup) throw new Error(`${dup} is listed twice`);
}

export interface BrokerConfigResult {
  serverConfig: string;
  accountsJson: string;
  hosts: Record<string, { credentials: string; publicKey: string; created: boolean }>;
  operators: Record<string, { credentials: string; publicKey: string; created: boolean }>;
}

export function writeBrokerConfig(opts: BrokerConfigOptions): BrokerConfigResult {
  validateNames(opts.hosts, opts.operators);
  const out = path.resolve(opts.out);
  for (const d of [out, path.join(out, 'hosts'), path.join(out, 'operators')]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
    chmodSync(d, 0o700);
  }
  const users: { nkey: string; permissions: Permissions }[] = [];
  const result: BrokerConfigResult = { serverConfig: path.join(out, 'nats-server.conf'), accountsJson: path.join(out, 'accounts.json'), hosts: {}, operators: {} };
  for (const h of opts.hosts) {
    const credentials = path.join(out, 'hosts', `${hostToken(h)}.nk`);
    const k = seedFor(credentials);
    users.push({ nkey: k.publicKey, permissions: hostPermissions(h) });
    result.hosts[h] = { credentials, publicKey: k.publicKey, created: k.created };
  }
  for (const o of opts.operators) {
    const credentials = path.join(out, 'operators', `${o}.nk`);
    const k = seedFor(credentials);
    users.push({ nkey: k.publicKey, permissions: operatorPermissions() });
    result.operators[o] = { credentials, publicKey: k.publicKey, created: k.created };
  }
  const accounts = { NIXFLEET: { jetstream: 'enabled', users } };
  writeFileSync(result.accountsJson, JSON.stringify({ accounts }, null, 2) + '\n', { mode: 0o644 });
  // nats-server reads JSON as its own config syntax.
  const server = {
    port: opts.port,
    max_payload: BROKER_MAX_PAYLOAD,
    jetstream: { store_dir: opts.storeDir },
    accounts,
  };
  writeFileSync(result.serverConfig, `# Written by nixfleet-agent broker-config for ${opts.hosts.length} host(s); see docs/broker.md.\n${JSON.stringify(server, null, 2)}\n`, { mode: 0o644 });
  return result;
}
