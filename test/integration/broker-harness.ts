// Shared by the broker-*.test.ts files: real nats-server processes (Debian's 2.9.10, or
// $NIXFLEET_NATS_SERVER) on free loopback ports in a temp dir, a single node or a
// three-node cluster, configured by the agent's own `broker-config`; agents serving
// through the broker alone (no listening port); and controllers on operator credentials.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AgentClient } from '../../src/fleet/agentClient';
import { BrokerClient } from '../../src/broker/client';
import { AGENT_JS } from './agent-harness';

export const NATS_SERVER = process.env.NIXFLEET_NATS_SERVER ?? 'nats-server';

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

export interface BrokerSetup {
  dir: string;
  hostCredentials(host: string): string;
  operatorCredentials(name?: string): string;
}

/** Run the real `nixfleet-agent broker-config` into `dir`. */
export function brokerConfig(dir: string, hosts: string[], operators = ['alice', 'bob']): BrokerSetup {
  const r = spawnSync(process.execPath, [AGENT_JS, 'broker-config', '--hosts', hosts.join(','), '--operators', operators.join(','), '--out', dir, '--json'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`broker-config failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { hosts: Record<string, { credentials: string }>; operators: Record<string, { credentials: string }> };
  return {
    dir,
    hostCredentials: (h) => out.hosts[h]!.credentials,
    operatorCredentials: (o = operators[0]!) => out.operators[o]!.credentials,
  };
}

export interface NatsNode {
  name: string;
  port: number;
  url: string;
  proc: ChildProcess | undefined;
  log(): string;
}

export interface NatsCluster {
  nodes: NatsNode[];
  urls: string[];
  kill9(i: number): Promise<void>;
  start(i: number): Promise<void>;
  stop(): Promise<void>;
}

async function waitListening(port: number, proc: ChildProcess, log: () => string): Promise<void> {
  const until = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nats-server exited (${proc.exitCode}): ${log().slice(-2000)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nats-server did not listen on ${port} within 20 s: ${log().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Start `size` nats-server nodes (a cluster when size > 1) with the generated config:
 * each node gets its own copy with its port, store dir and cluster block.
 */
export async function startNats(setup: BrokerSetup, size = 1, extra: Record<string, unknown> = {}): Promise<NatsCluster> {
  const base = JSON.parse(readFileSync(path.join(setup.dir, 'nats-server.conf'), 'utf8').replace(/^#.*\n/, '')) as Record<string, unknown>;
  const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routes = await Promise.all(Array.from({ length: size }, () => freePort()));
  const nodes: NatsNode[] = ports.map((port, i) => ({ name: `n${i + 1}`, port, url: `nats://127.0.0.1:${port}`, proc: undefined, log: () => '' }));
  const confs = nodes.map((n, i) => {
    const dir = path.join(setup.dir, n.name);
    mkdirSync(dir, { recursive: true });
    const conf = {
      ...base,
      host: '127.0.0.1',
      port: n.port,
      server_name: n.name,
      jetstream: { store_dir: path.join(dir, 'js') },
      ...(size > 1
        ? { cluster: { name: 'nixfleet-test', host: '127.0.0.1', port: routes[i], routes: routes.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`) } }
        : {}),
      ...extra,
    };
    const file = path.join(dir, 'server.conf');
    writeFileSync(file, JSON.stringify(conf, null, 2));
    return file;
  });
  const start = async (i: number) => {
    const n = nodes[i]!;
    let log = '';
    const proc = spawn(NATS_SERVER, ['-c', confs[i]!], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.setEncoding('utf8').on('data', (c: string) => (log = (log + c).slice(-20_000)));
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => (log = (log + c).slice(-20_000)));
    n.proc = proc;
    n.log = () => log;
    await waitListening(n.port, proc, () => log);
  };
  await Promise.all(nodes.map((_, i) => start(i)));
  const kill = async (i: number, sig: NodeJS.Signals) => {
    const p = nodes[i]!.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill(sig);
    await once(p, 'exit');
  };
  return {
    nodes,
    urls: nodes.map((n) => n.url),
    kill9: (i) => kill(i, 'SIGKILL'),
    start,
    async stop() {
      await Promise.all(nodes.map((_, i) => kill(i, 'SIGTERM')));
    },
  };
}

export interface BrokerAgent {
  proc: ChildProcess;
  config: string;
  stderr(): string;
  stop(): Promise<void>;
  kill9(): Promise<void>;
  exited: Promise<number | null>;
}

/** `nixfleet-agent serve` with no listening port, dialling the broker. */
export async function startBrokerAgent(bed: TestBed, host: string, broker: string | string[], credentials: string | undefined, opts: { agentJs?: string; overrides?: Record<string, unknown>; env?: Record<string, string> } = {}): Promise<BrokerAgent> {
  const config = bed.writeConfig(host, { listen: null, broker, ...(credentials ? { brokerCredentials: credentials } : {}), ...(opts.overrides ?? {}) });
  const proc = spawn(process.execPath, [opts.agentJs ?? AGENT_JS, 'serve', '--config', config, '--json'], { env: { ...bed.env, ...(opts.env ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const rl = createInterface({ input: proc.stdout! });
  const first = await Promise.race([
    once(rl, 'line').then(([l]) => l as string),
    exited.then((code) => {
      throw new Error(`agent exited with ${code}: ${err}`);
    }),
  ]);
  const ready = JSON.parse(first) as { listening?: string; broker?: string[] };
  if (ready.listening !== undefined || !ready.broker) throw new Error(`agent should serve through the broker alone: ${first}`);
  const kill = async (sig: NodeJS.Signals) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(sig);
    await exited;
  };
  return { proc, config, stderr: () => err, stop: () => kill('SIGTERM'), kill9: () => kill('SIGKILL'), exited };
}

export async function operator(setup: BrokerSetup, urls: string[], name = 'alice', replicas = 1): Promise<BrokerClient> {
  // A fresh cluster elects its JetStream meta leader a few seconds after it listens.
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      return await BrokerClient.connect({ servers: urls, credentials: readFileSync(setup.operatorCredentials(name), 'utf8'), name: `test ${name}`, ensure: { replicas } });
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** The loopback port of the broker node the agent is connected to now (from its log). */
export function agentBrokerPort(agent: BrokerAgent): number | undefined {
  const all = [...agent.stderr().matchAll(/(?:connected|reconnected) to broker (?:nats:\/\/)?127\.0\.0\.1:(\d+)/g)];
  const last = all.at(-1);
  return last ? Number(last[1]) : undefined;
}

export function brokerAgentClient(broker: BrokerClient, host: string, name = 'broker-test'): AgentClient {
  return new AgentClient({
    transport: broker.transport(host),
    clientName: name,
    clientVersion: '1',
    requestTimeoutMs: 20_000,
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
  });
}

/** One nixos host h1 whose agent has no port, on one nats-server, and two operators (alice, bob). */
export interface TwoOperatorBed {
  bed: TestBed;
  work: string;
  setup: BrokerSetup;
  nats: NatsCluster;
  alice: BrokerClient;
  bob: BrokerClient;
  agent: BrokerAgent;
}

export async function startTwoOperatorBed(tag: string): Promise<TwoOperatorBed> {
  const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  const work = mkdtempSync(path.join(tmpdir(), `nixfleet-broker-${tag}-`));
  const setup = brokerConfig(path.join(work, 'broker'), ['h1']);
  const nats = await startNats(setup);
  const alice = await operator(setup, nats.urls, 'alice');
  const bob = await operator(setup, nats.urls, 'bob');
  const agent = await startBrokerAgent(bed, 'h1', nats.urls, setup.hostCredentials('h1'));
  return { bed, work, setup, nats, alice, bob, agent };
}

/** Stops what startTwoOperatorBed started, whatever part of it did start. */
export async function stopTwoOperatorBed(b: Partial<TwoOperatorBed>): Promise<void> {
  await b.agent?.stop();
  await b.alice?.close();
  await b.bob?.close();
  await b.nats?.stop();
  await b.bed?.cleanup();
  if (b.work) rmSync(b.work, { recursive: true, force: true });
}
