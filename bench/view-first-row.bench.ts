// How soon the Fleet view shows a host with its status, on a flake with 50 hosts: the time from
// the view opening (FleetStartup.start(), what the tree's first getChildren() calls) to the
// first host whose agent answered with its status, against one agent round trip (connect,
// hello/welcome, status) measured side by side on the same agents. Goal: <= 2x.
// The old order (evaluate the flake, then connect) is measured beside it, as the figure the
// change removes. One real-Nix test bed: 50 nixos hosts in its flake (real `nix eval`), all 50
// in the settings, one real agent per host on loopback.
// Standalone: node --import tsx bench/view-first-row.bench.ts   (needs `node scripts/build.mjs`)
import { availableParallelism, loadavg } from 'node:os';
import { createTestBed } from '../test/fixtures/testbed';
import { startAgent, type RunningAgent } from '../test/integration/agent-harness';
import { openAgentSession } from '../src/fleet/agentSession';
import { Fleet } from '../src/fleet/fleet';
import { FleetStartup } from '../src/fleet/fleetStartup';
import type { HostEntry } from '../src/fleet/hostConfig';
import { parseAddress } from '../src/fleet/hostConfig';
import { waitSettled } from '../src/fleet/session';
import { median } from './benchFleet';

const HOSTS = Number(process.env.NIXFLEET_BENCH_HOSTS ?? 50);
const ROUNDS = Number(process.env.NIXFLEET_BENCH_ROUNDS ?? 3);
const names = Array.from({ length: HOSTS }, (_, i) => `v${String(i + 1).padStart(2, '0')}`);

async function main(): Promise<void> {
  const bed = await createTestBed({ hosts: names.map((name) => ({ name, platform: 'nixos' as const })) });
  const agents: RunningAgent[] = [];
  try {
    // Start the agents a few at a time: 50 Node processes at once would swamp 2 cores for minutes.
    for (let i = 0; i < names.length; i += 5) agents.push(...(await Promise.all(names.slice(i, i + 5).map((h) => startAgent(bed, h)))));
    const entries: HostEntry[] = names.map((h, i) => ({ name: h, address: agents[i]!.url, platform: 'nixos' }));
    const open = (entry: HostEntry, token: string | undefined) =>
      openAgentSession({ entry, endpoint: parseAddress(entry.name, entry.address, entry), token, clientName: 'view-bench', clientVersion: '1', requestTimeoutMs: 60_000 });

    /** One agent round trip: a new session to one host until its status is in hand. */
    const roundTrip = async (host: number): Promise<number> => {
      const t = performance.now();
      const s = open(entries[host]!, bed.token);
      try {
        const state = await waitSettled(s, 30_000);
        if (state.state !== 'online') throw new Error(`${entries[host]!.name}: ${state.state === 'offline' ? state.reason : 'no answer'}`);
        await s.status();
        return performance.now() - t;
      } finally {
        s.close();
      }
    };

    /** The view opening: ms to the first host online with its status, and to every flake host listed. */
    const viewOpens = async (discoveryFirst: boolean): Promise<{ first: number; listed: number; online: number }> => {
      const fleet = new Fleet({ openSession: (entry, _endpoint, token) => open(entry, token), getToken: async () => bed.token, connectWaitMs: 30_000 });
      const startup = new FleetStartup({ fleet, settingsHosts: () => ({ hosts: entries, errors: [] }), discoveryTarget: async () => ({ dir: bed.workstation }) });
      const t = performance.now();
      let first = 0;
      let listed = 0;
      let online = 0;
      const done = new Promise<void>((resolve) => {
        const check = () => {
          const hosts = fleet.hosts();
          if (!online && hosts.some((h) => h.connection === 'online')) online = performance.now() - t;
          if (!first && hosts.some((h) => h.connection === 'online' && h.status)) first = performance.now() - t;
          if (!listed && hosts.filter((h) => h.discoveredIn === 'nixosConfigurations').length === HOSTS) listed = performance.now() - t;
          if (first && listed) resolve();
        };
        fleet.onDidChange.on(check);
        check();
      });
      try {
        if (discoveryFirst) {
          // What ensureStarted did before: every host waited for the flake's evaluation.
          await startup.rediscover();
          await fleet.start();
        } else {
          void startup.start();
        }
        await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error('no host online with its status within 120 s')), 120_000))]);
        if (fleet.problems.length) throw new Error(`discovery: ${fleet.problems.join('; ')}`);
        return { first, listed, online };
      } finally {
        startup.dispose();
        fleet.dispose();
      }
    };

    const trips: number[] = [];
    const now: { first: number; listed: number; online: number }[] = [];
    const before: { first: number; listed: number; online: number }[] = [];
    for (let r = 0; r <= ROUNDS; r++) {
      // Round 0 warms up (Nix's eval cache, the agents' first answers) and is not counted; the order alternates.
      const trip = await roundTrip(r % HOSTS);
      const steps = r % 2 ? [() => viewOpens(false), () => viewOpens(true)] : [() => viewOpens(true), () => viewOpens(false)];
      const a = await steps[0]!();
      const b = await steps[1]!();
      if (r === 0) continue;
      trips.push(trip, await roundTrip((r + 1) % HOSTS));
      (r % 2 ? now : before).push(a);
      (r % 2 ? before : now).push(b);
    }
    const trip = median(trips);
    const first = median(now.map((x) => x.first));
    const old = median(before.map((x) => x.first));
    const listed = median(now.map((x) => x.listed));
    const online = median(now.map((x) => x.online));
    const where = `${availableParallelism()} cores, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}, median of ${ROUNDS}`;
    console.log(`view-first-row: ${(first / trip).toFixed(2)}x one agent round trip (first host row with status after ${first.toFixed(0)} ms, round trip ${trip.toFixed(0)} ms; ${HOSTS} hosts in the flake and the settings; ${where}) goal <=2`);
    console.log(`view-first-row evaluate-then-connect (the order before): ${(old / trip).toFixed(2)}x (${old.toFixed(0)} ms); the flake's ${HOSTS} hosts listed after ${listed.toFixed(0)} ms; first agent online (welcome) after ${online.toFixed(0)} ms`);
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await bed.cleanup();
  }
}

main().catch((err) => {
  console.error(`view-first-row bench failed: ${(err as Error).message}`);
  process.exit(1);
});
