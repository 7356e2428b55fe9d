// The side-by-side fleet the deploy and plan benches measure on: one real-Nix test bed, every
// host on its first generation, one real agent per host in its own CPU slice (when a cgroup
// cpu controller is usable), and a Fleet connected to all of them. One set-up for both, so
// their figures stay comparable.
import { execFileSync } from 'node:child_process';
import { createTestBed, type TestBed } from '../test/fixtures/testbed';
import { startAgent, type RunningAgent } from '../test/integration/agent-harness';
import { openAgentSession } from '../src/fleet/agentSession';
import { Fleet } from '../src/fleet/fleet';
import { openCpuSlices, type CpuSlice, type CpuSlices } from './cpuSlices';

export interface BenchFleet {
  bed: TestBed;
  fleet: Fleet;
  /** Undefined without a usable cgroup cpu controller: hosts then share the cores. */
  cpu: CpuSlices | undefined;
  slices: Map<string, CpuSlice>;
  /** CPU time (ms) the hosts' slices used so far. */
  cpuUsedMs(hosts: readonly string[]): number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Set the fleet up, run `measure` on it, and tear everything down whatever happens. */
export async function withBenchFleet(names: readonly string[], clientName: string, measure: (f: BenchFleet) => Promise<void>): Promise<void> {
  const bed = await createTestBed({ hosts: names.map((name) => ({ name, platform: 'nixos' as const })) });
  const agents: RunningAgent[] = [];
  const cpu = openCpuSlices();
  const slices = new Map<string, CpuSlice>();
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
      if (cpu) {
        const slice = cpu.slice(h);
        slice.add(a.proc.pid!);
        slices.set(h, slice);
      }
    }
    fleet = new Fleet({
      openSession: (entry, endpoint, token) => openAgentSession({ entry, endpoint, token, clientName, clientVersion: '1', requestTimeoutMs: 120_000 }),
      getToken: async () => bed.token,
      connectWaitMs: 20_000,
    });
    fleet.configure(names.map((h) => ({ name: h, address: urls.get(h)!, platform: 'nixos' as const })), [], []);
    await fleet.start();
    const cpuUsedMs = (hosts: readonly string[]) => hosts.reduce((sum, h) => sum + (slices.get(h)?.usageMs() ?? 0), 0);
    await measure({ bed, fleet, cpu, slices, cpuUsedMs });
  } finally {
    fleet?.dispose();
    await Promise.all(agents.map((a) => a.stop()));
    await bed.cleanup();
    cpu?.dispose();
  }
}
