// The broker at fleet scale (issue 10), side by side with a small fleet on the same machine.
// Two real nats-servers on loopback, each configured by the agent's own broker-config:
//   - "one": 1 host, a real agent (nixfleet-agent serve, listen null, broker);
//   - "fleet": 1000 hosts: 20 real agents on real Nix test flakes, spread evenly through
//     the list (every 50th host), and 980 HostSimulators (bench/hostSimulator.ts: not
//     agents; each dials the broker with its own host credentials, heartbeats its record
//     and answers sessions and ops as the agent does) in a few processes.
// The controller is the CLI's core (BrokerHostSource, Connections, runDeploy) in a process
// of its own (bench/brokerScaleController.ts, bundled like dist/nixfleet.js). Printed:
//   - broker-status-1000-vs-1: time from connecting until the controller knows every host
//     online, 1000 hosts against 1 (goal <= 3x);
//   - broker-controller-memory-1000: the controller's RSS and heap with 1000 hosts loaded,
//     after a GC, and its peak RSS during the 1000-host deploy (goal < 200 MiB), beside
//     the same with 1 host;
//   - broker-deploy-1000-vs-100: a deploy (switch with magic rollback, as `nixfleet deploy`)
//     to all 1000 hosts with parallelism 100 against one to the first 100 hosts (2 of them
//     real) with parallelism 100 (goal <= 12x; ten times the hosts through the same width
//     is about 10x, less where the 100-host deploy waits on its slowest host). Every deploy
//     commits a change to its real hosts first, so they really fetch, build and activate.
// Journal throughput through the broker is broker-stream.bench.ts.
// Standalone: node --import tsx bench/broker-scale.bench.ts   (needs dist/agent.js: npm run build)
// Env: NIXFLEET_BENCH_ROUNDS (default 2 deploy rounds, 5 status rounds), NIXFLEET_BENCH_SIM_OP_MS.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { build } from 'esbuild';
import { createTestBed, type TestBed } from '../test/fixtures/testbed';
import { brokerConfig, operator, startBrokerAgent, startNats, type BrokerAgent, type BrokerSetup, type NatsCluster } from '../test/integration/broker-harness';
import { median } from './benchFleet';

const TOTAL = 1000;
const REAL = 20;
const PARALLELISM = 100;
const SIM_PROCESSES = 4;
const DEPLOY_ROUNDS = Number(process.env.NIXFLEET_BENCH_ROUNDS ?? 2);
const STATUS_ROUNDS = 5;
/** A simulated switch: about what a real one takes on this bed when a few run at once. */
const SIM_OP_MS = Number(process.env.NIXFLEET_BENCH_SIM_OP_MS ?? 3000);
const SIM_OP_LINES = 30;
const CONFIRM_TIMEOUT_S = 30;

const root = path.resolve(import.meta.dirname, '..');
const isReal = (i: number) => i % (TOTAL / REAL) === TOTAL / REAL / 2;
/** The fleet in deploy order: real hosts every 50th, so any 100 in a row hold 2 of them. */
const names: string[] = [];
for (let i = 0, r = 0, s = 0; i < TOTAL; i++) names.push(isReal(i) ? `r${String(++r).padStart(2, '0')}` : `s${String(++s).padStart(4, '0')}`);
const realHosts = names.filter((n) => n.startsWith('r'));
const simHosts = names.filter((n) => n.startsWith('s'));

class Controller {
  private readonly rl: Interface;
  private readonly waiting: { resolve(line: string): void; reject(err: Error): void }[] = [];
  private stderr = '';
  constructor(readonly proc: ChildProcess) {
    this.rl = createInterface({ input: proc.stdout! });
    this.rl.on('line', (l) => this.waiting.shift()?.resolve(l));
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => (this.stderr = (this.stderr + c).slice(-4000)));
    proc.once('exit', (code) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`controller exited (${code}): ${this.stderr}`));
    });
  }
  async ask<T>(cmd: object): Promise<T> {
    const line = new Promise<string>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.proc.stdin!.write(JSON.stringify(cmd) + '\n');
    const out = JSON.parse(await line) as T & { error?: string };
    if (out.error) throw new Error(`controller: ${out.error}`);
    return out;
  }
  stop(): void {
    this.proc.stdin!.end();
    this.proc.kill('SIGTERM');
  }
}

function lines(proc: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let err = '';
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err = (err + c).slice(-4000)));
    createInterface({ input: proc.stdout! }).once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`exited (${code}): ${err}`)));
  });
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'nixfleet-bench-scale-'));
  const procs: ChildProcess[] = [];
  const agents: BrokerAgent[] = [];
  const controllers: Controller[] = [];
  let bed: TestBed | undefined;
  const clusters: NatsCluster[] = [];
  try {
    const controllerJs = path.join(work, 'controller.mjs');
    await build({ entryPoints: [path.join(root, 'bench/brokerScaleController.ts')], bundle: true, platform: 'node', target: 'node20', format: 'esm', outfile: controllerJs, logLevel: 'warning', banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" } });

    bed = await createTestBed({ hosts: [...realHosts, 'one'].map((name) => ({ name, platform: 'nixos' as const })) });
    for (const h of [...realHosts, 'one']) execFileSync('nix-env', ['-p', bed.host(h).profile, '--set', await bed.build(h, bed.workstation)], { env: bed.env });

    const small: BrokerSetup = brokerConfig(path.join(work, 'one'), ['one'], ['alice']);
    const large: BrokerSetup = brokerConfig(path.join(work, 'fleet'), names, ['alice']);
    const natsOne = await startNats(small);
    clusters.push(natsOne);
    const natsFleet = await startNats(large);
    clusters.push(natsFleet);
    for (const [setup, nats] of [[small, natsOne], [large, natsFleet]] as const) await (await operator(setup, nats.urls)).close();

    const overrides = { confirmTimeout: CONFIRM_TIMEOUT_S };
    agents.push(await startBrokerAgent(bed, 'one', natsOne.urls, small.hostCredentials('one'), { overrides }));
    for (const h of realHosts) agents.push(await startBrokerAgent(bed, h, natsFleet.urls, large.hostCredentials(h), { overrides }));

    const per = Math.ceil(simHosts.length / SIM_PROCESSES);
    const simStarts: Promise<string>[] = [];
    for (let p = 0; p < SIM_PROCESSES; p++) {
      const specFile = path.join(work, `sim-${p}.json`);
      const hosts = simHosts.slice(p * per, (p + 1) * per).map((host) => ({ host, credentials: large.hostCredentials(host) }));
      writeFileSync(specFile, JSON.stringify({ servers: natsFleet.urls, opMs: SIM_OP_MS, opLines: SIM_OP_LINES, confirmTimeoutS: CONFIRM_TIMEOUT_S, hosts }));
      const proc = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bench/hostSimulatorMain.ts'), specFile], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      procs.push(proc);
      simStarts.push(lines(proc));
    }
    const simReady = (await Promise.all(simStarts)).map((l) => JSON.parse(l) as { ready: number; ms: number });

    const controller = (setup: BrokerSetup, nats: NatsCluster) => {
      const proc = spawn(process.execPath, ['--expose-gc', controllerJs, nats.urls.join(','), setup.operatorCredentials('alice')], { stdio: ['pipe', 'pipe', 'pipe'] });
      procs.push(proc);
      const c = new Controller(proc);
      controllers.push(c);
      return c;
    };
    const one = controller(small, natsOne);
    const fleet = controller(large, natsFleet);

    type Opened = { ms: number; loadedMs: number; hosts: number; online: number };
    // Everything up: the first open waits (bounded) for every host's first record.
    const first = await fleet.ask<Opened>({ cmd: 'open', expect: TOTAL });
    if (first.online < TOTAL) throw new Error(`only ${first.online} of ${TOTAL} hosts came online`);
    await one.ask<Opened>({ cmd: 'open', expect: 1 });

    const statusOne: number[] = [];
    const statusFleet: number[] = [];
    for (let r = 0; r < STATUS_ROUNDS; r++) {
      for (const which of r % 2 ? ['fleet', 'one'] : ['one', 'fleet']) {
        const o = await (which === 'one' ? one : fleet).ask<Opened>({ cmd: 'open', expect: which === 'one' ? 1 : TOTAL });
        if (o.online < (which === 'one' ? 1 : TOTAL)) throw new Error(`${which}: only ${o.online} hosts online`);
        (which === 'one' ? statusOne : statusFleet).push(o.ms);
      }
    }
    const s1 = median(statusOne);
    const sN = median(statusFleet);
    console.log(`broker-status-1000-vs-1: ${(sN / s1).toFixed(2)}x (1000 hosts known online ${sN.toFixed(0)} ms after connecting vs 1 host ${s1.toFixed(0)} ms; median of ${STATUS_ROUNDS}) goal <=3`);

    type Mem = { rssMiB: number; heapUsedMiB: number; externalMiB: number };
    const memFleet = await fleet.ask<Mem>({ cmd: 'memory' });
    const memOne = await one.ask<Mem>({ cmd: 'memory' });

    type Deployed = { ms: number; state: string; failedCount: number; failed: string[]; notices: string[]; durations: { host: string; ms: number }[]; peakRssMiB: number };
    let round = 0;
    const deploy = async (hosts: string[]) => {
      const changes: Record<string, string> = {};
      for (const h of hosts.filter((x) => x.startsWith('r'))) changes[`hosts/${h}/version`] = `24.11.${++round}\n`;
      const commit = await bed!.commit(changes, `broker-scale bench ${round}`);
      const d = await fleet.ask<Deployed>({ cmd: 'deploy', hosts, commit, parallelism: PARALLELISM });
      if (d.state !== 'succeeded') throw new Error(`deploy to ${hosts.length} hosts ${d.state}: ${d.failedCount} failed: ${d.failed.join('; ')} ${d.notices.join('; ')}`);
      return d;
    };
    const hundred = names.slice(0, 100);
    const d100: Deployed[] = [];
    const d1000: Deployed[] = [];
    await deploy(hundred); // warm-up: real hosts' first fetch and build through the broker
    for (let r = 0; r < DEPLOY_ROUNDS; r++) {
      for (const which of r % 2 ? ['1000', '100'] : ['100', '1000']) (which === '100' ? d100 : d1000).push(await deploy(which === '100' ? hundred : names));
    }
    const t100 = median(d100.map((d) => d.ms));
    const t1000 = median(d1000.map((d) => d.ms));
    const hostMs = (ds: Deployed[], real: boolean) => median(ds.flatMap((d) => d.durations.filter((x) => x.host.startsWith('r') === real).map((x) => x.ms)));
    console.log(
      `broker-deploy-1000-vs-100: ${(t1000 / t100).toFixed(2)}x (1000 hosts ${(t1000 / 1000).toFixed(1)} s vs 100 hosts ${(t100 / 1000).toFixed(1)} s, parallelism ${PARALLELISM}, switch with magic rollback; ` +
        `one host's switch: real ${(hostMs(d1000, true) / 1000).toFixed(1)} s, simulated ${(hostMs(d1000, false) / 1000).toFixed(1)} s in the 1000-host deploy (${(hostMs(d100, true) / 1000).toFixed(1)} / ${(hostMs(d100, false) / 1000).toFixed(1)} s in the 100-host one); median of ${DEPLOY_ROUNDS}) goal <=12`,
    );
    const peak = Math.max(...d1000.map((d) => d.peakRssMiB));
    console.log(
      `broker-controller-memory-1000: ${memFleet.rssMiB} MiB RSS, heap ${memFleet.heapUsedMiB} MiB with 1000 hosts loaded (1 host: ${memOne.rssMiB} MiB RSS, heap ${memOne.heapUsedMiB} MiB: ${(memFleet.rssMiB / memOne.rssMiB).toFixed(2)}x); ` +
        `peak ${peak} MiB RSS during the 1000-host deploy; goal < 200 MiB`,
    );
    console.log(`broker-scale-setup: ${REAL} real agents + ${simHosts.length} simulated hosts in ${SIM_PROCESSES} processes (connected in ${Math.max(...simReady.map((s) => s.ms))} ms); simulated switch ${SIM_OP_MS} ms, ${SIM_OP_LINES} journal lines`);
  } finally {
    for (const c of controllers) c.stop();
    for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(clusters.map((c) => c.stop()));
    await bed?.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`broker-scale bench failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
