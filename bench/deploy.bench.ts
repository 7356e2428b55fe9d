// Deploy to 10 hosts vs deploy to 1 host, side by side on one real-Nix test bed with a real
// agent per host. Every measurement first commits a change to the hosts it deploys, so each
// deploy really fetches, builds and activates. Goal: 10 hosts <= 2x one host (deploy-rs
// deploys one host after another: ~10x).
//
// Real hosts each bring their own CPU; here all of them share this machine's cores, and a
// host's op is CPU-bound work (node worker, nix, git). So two figures are printed:
// - "own CPU": every simulated host is capped at cores/10 of a CPU (one control group per
//   host: its agent, op workers, nix and git), so the 10 hosts together fit the machine as
//   10 real hosts would fit theirs; 1 host gets the same cap. This is the goal's figure.
// - "shared CPU": no caps. 10 hosts then cannot beat (CPU they use)/(cores); printed with
//   that floor, to show the deploy keeps the cores busy rather than waiting on itself.
// Also printed: the same 10 hosts one at a time (parallelism 1), deploy-rs style, for scale.
// Standalone: node --import tsx bench/deploy.bench.ts   (needs `npm run build` for dist/agent.js)
import { availableParallelism } from 'node:os';
import { fleetAgents } from '../src/deploy/fleetAgents';
import { planDeploy } from '../src/deploy/plan';
import { runDeploy } from '../src/deploy/run';
import { median, withBenchFleet } from './benchFleet';

const ROUNDS = Number(process.env.NIXFLEET_BENCH_ROUNDS ?? 4);
const MANY = Array.from({ length: 10 }, (_, i) => `m${i + 1}`);
const ONE = 'solo';
const SEQ = Array.from({ length: 10 }, (_, i) => `s${i + 1}`);

interface Sample {
  wallMs: number;
  cpuMs: number;
}

async function main(): Promise<void> {
  const names = [ONE, ...MANY, ...SEQ];
  const cores = availableParallelism();
  await withBenchFleet(names, 'deploy-bench', async ({ bed, fleet: f, cpu, slices, cpuUsedMs }) => {

    let round = 0;
    const deploy = async (hosts: string[], parallelism: number, capCores: number | undefined): Promise<Sample> => {
      for (const h of hosts) slices.get(h)?.cap(capCores);
      const changes: Record<string, string> = {};
      for (const h of hosts) changes[`hosts/${h}/version`] = `24.11.${++round}\n`;
      const commit = await bed.commit(changes, `bench deploy ${round}`);
      const record = planDeploy({ target: { commit }, hosts, parallelism, who: 'bench' });
      const cpuBefore = cpuUsedMs(hosts);
      const t = performance.now();
      const res = await runDeploy({ agents: fleetAgents(f), record });
      const wallMs = performance.now() - t;
      const cpuMs = cpuUsedMs(hosts) - cpuBefore;
      if (res.state !== 'succeeded') throw new Error(`deploy to ${hosts.join(',')} ${res.state}: ${res.hosts.map((h) => `${h.host} ${h.outcome} ${h.error ?? ''}`).join('; ')}`);
      return { wallMs, cpuMs };
    };

    const share = cores / MANY.length;
    type Run = 'own-one' | 'own-many' | 'shared-one' | 'shared-many' | 'seq';
    const runs: Record<Run, () => Promise<Sample>> = {
      'own-one': () => deploy([ONE], 1, share),
      'own-many': () => deploy(MANY, MANY.length, share),
      'shared-one': () => deploy([ONE], 1, undefined),
      'shared-many': () => deploy(MANY, MANY.length, undefined),
      seq: () => deploy(SEQ, 1, undefined),
    };
    const order = (cpu ? Object.keys(runs) : Object.keys(runs).filter((k) => !k.startsWith('own'))) as Run[];
    const samples = Object.fromEntries(order.map((k) => [k, [] as Sample[]])) as Record<Run, Sample[]>;
    for (let r = 0; r <= ROUNDS; r++) {
      // Alternate the order; round 0 warms everything up and is not counted.
      for (const which of r % 2 ? [...order].reverse() : order) {
        const sample = await runs[which]();
        if (r > 0) samples[which].push(sample);
      }
    }
    const wall = (k: Run) => median(samples[k].map((x) => x.wallMs));
    const cpuOf = (k: Run) => median(samples[k].map((x) => x.cpuMs));
    const conditions = `parallelism 10, ${cores} cores, median of ${ROUNDS}`;
    if (cpu) {
      const o = wall('own-one');
      const m = wall('own-many');
      console.log(`deploy-10-vs-1: ${(m / o).toFixed(2)}x (10 hosts ${m.toFixed(0)} ms vs 1 host ${o.toFixed(0)} ms; own CPU: each host capped at ${share.toFixed(2)} core (${cpu.kind}); ${conditions}) goal <=2`);
    } else {
      console.log(`deploy-10-vs-1 (own CPU): not measured: no cgroup cpu controller this process may use (run as root on Linux)`);
    }
    const o = wall('shared-one');
    const m = wall('shared-many');
    const floor = cpu ? cpuOf('shared-many') / cores : NaN;
    console.log(
      `deploy-10-vs-1-shared-cpu: ${(m / o).toFixed(2)}x (10 hosts ${m.toFixed(0)} ms vs 1 host ${o.toFixed(0)} ms, no caps; ${conditions})` +
        (cpu ? `; the 10 hosts used ${cpuOf('shared-many').toFixed(0)} ms CPU (1 host ${cpuOf('shared-one').toFixed(0)} ms), so ${cores} cores need >= ${floor.toFixed(0)} ms: wall/floor ${(m / floor).toFixed(2)}` : ''),
    );
    const s10 = wall('seq');
    console.log(`deploy-10-one-at-a-time-vs-1: ${(s10 / o).toFixed(2)}x (${s10.toFixed(0)} ms, no caps; deploy-rs style, for scale)`);
  });
}

main().catch((err) => {
  console.error(`deploy bench failed: ${(err as Error).message}`);
  process.exit(1);
});
