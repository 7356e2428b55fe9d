// Deploy to 10 hosts vs deploy to 1 host, side by side on one real-Nix test bed with a real
// agent per host. Every round commits a change to every host first, so each deploy really
// pulls, builds and activates. Goal: 10 hosts ≤ 2× one host (deploy-rs deploys one host after
// another: ~10×). Also printed: the same 10 hosts one at a time (parallelism 1), for scale.
// Standalone: node --import tsx bench/deploy.bench.ts   (needs `npm run build` for dist/agent.js)
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { createTestBed } from '../test/fixtures/testbed';
import { startAgent, type RunningAgent } from '../test/integration/agent-harness';
import { openAgentSession } from '../src/fleet/agentSession';
import { Fleet } from '../src/fleet/fleet';
import { fleetAgents } from '../src/deploy/fleetAgents';
import { planDeploy } from '../src/deploy/plan';
import { runDeploy } from '../src/deploy/run';

const ROUNDS = Number(process.env.NIXFLEET_BENCH_ROUNDS ?? 4);
const MANY = Array.from({ length: 10 }, (_, i) => `m${i + 1}`);
const ONE = 'solo';
const SEQ = Array.from({ length: 10 }, (_, i) => `s${i + 1}`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const names = [ONE, ...MANY, ...SEQ];
  const bed = await createTestBed({ hosts: names.map((name) => ({ name, platform: 'nixos' as const })) });
  const agents: RunningAgent[] = [];
  let fleet: Fleet | undefined;
  try {
    for (const h of names) {
      const storePath = await bed.build(h, bed.workstation);
      execFileSync('nix-env', ['-p', bed.host(h).profile, '--set', storePath], { env: bed.env });
    }
    const urls = new Map<string, string>();
    for (const h of names) {
      const a = await startAgent(bed, h);
      agents.push(a);
      urls.set(h, a.url);
    }
    fleet = new Fleet({
      openSession: (entry, endpoint, token) => openAgentSession({ entry, endpoint, token, clientName: 'deploy-bench', clientVersion: '1', requestTimeoutMs: 120_000 }),
      getToken: async () => bed.token,
      connectWaitMs: 20_000,
    });
    fleet.configure(names.map((h) => ({ name: h, address: urls.get(h)!, platform: 'nixos' as const })), [], []);
    await fleet.start();
    const f = fleet;

    const deploy = async (hosts: string[], parallelism: number, commit: string) => {
      const record = planDeploy({ target: { commit }, hosts, parallelism, who: 'bench' });
      const t = performance.now();
      const res = await runDeploy({ agents: fleetAgents(f), record });
      const ms = performance.now() - t;
      if (res.state !== 'succeeded') throw new Error(`deploy to ${hosts.join(',')} ${res.state}: ${res.hosts.map((h) => `${h.host} ${h.outcome} ${h.error ?? ''}`).join('; ')}`);
      return ms;
    };

    const one: number[] = [];
    const many: number[] = [];
    const seq: number[] = [];
    for (let r = 0; r <= ROUNDS; r++) {
      const changes: Record<string, string> = {};
      for (const h of names) changes[`hosts/${h}/version`] = `24.11.${r}\n`;
      const commit = await bed.commit(changes, `bench round ${r}`);
      // Alternate who goes first; round 0 warms everything up and is not counted.
      const order = r % 2 ? ['many', 'one', 'seq'] : ['one', 'many', 'seq'];
      for (const which of order) {
        const ms =
          which === 'one' ? await deploy([ONE], 1, commit) : which === 'many' ? await deploy(MANY, 10, commit) : await deploy(SEQ, 1, commit);
        if (r === 0) continue;
        (which === 'one' ? one : which === 'many' ? many : seq).push(ms);
      }
    }
    const o = median(one);
    const m = median(many);
    const s = median(seq);
    console.log(`deploy-10-vs-1: ${(m / o).toFixed(2)}x (10 hosts ${m.toFixed(0)} ms vs 1 host ${o.toFixed(0)} ms, parallelism 10, ${availableParallelism()} cores, median of ${ROUNDS}) goal <=2`);
    console.log(`deploy-10-one-at-a-time-vs-1: ${(s / o).toFixed(2)}x (${s.toFixed(0)} ms; deploy-rs style, for scale)`);
  } finally {
    fleet?.dispose();
    await Promise.all(agents.map((a) => a.stop()));
    await bed.cleanup();
  }
}

main().catch((err) => {
  console.error(`deploy bench failed: ${(err as Error).message}`);
  process.exit(1);
});
