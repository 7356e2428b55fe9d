// How soon the Fleet view shows a host with its status, on a flake with 50 hosts: the time from
// the view opening (FleetStartup.start(), what the tree's first getChildren() calls) to the
// first host whose agent answered with its status, against one agent round trip (connect,
// hello/welcome, status) measured side by side on the same agents. Goal: <= 2x. Also the time
// to the last host with its status (all 50), so a faster first row is not paid for by the
// whole view filling slower. The round trip is taken just before and after each opening (three
// hosts each time) and each opening divided by its own: a busy machine slows both alike.
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
interface View {
  first: number;
  last: number;
  listed: number;
  online: number;
}
type Round = View & { trip: number };

/** Run one after the other (a round trip measured alone, not beside another). */
async function sequence<T>(steps: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = [];
  for (const step of steps) out.push(await step());
  return out;
}

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

    /**
     * The view opening: ms to the first host online with its status, to the last one (all of
     * them), to the first agent's welcome and to every flake host listed. It ends when all is
     * done (every status in, every evaluation ended), so no leftover work weighs on the next
     * round trip.
     */
    const viewOpens = async (discoveryFirst: boolean): Promise<View> => {
      const fleet = new Fleet({ openSession: (entry, _endpoint, token) => open(entry, token), getToken: async () => bed.token, connectWaitMs: 30_000 });
      const startup = new FleetStartup({ fleet, settingsHosts: () => ({ hosts: entries, errors: [] }), discoveryTarget: async () => ({ dir: bed.workstation }) });
      const t = performance.now();
      const v: View = { first: 0, last: 0, listed: 0, online: 0 };
      let timer: NodeJS.Timeout | undefined;
      const done = new Promise<void>((resolve) => {
        const check = () => {
          const hosts = fleet.hosts();
          const withStatus = hosts.filter((h) => h.connection === 'online' && h.status).length;
          if (!v.online && hosts.some((h) => h.connection === 'online')) v.online = performance.now() - t;
          if (!v.first && withStatus) v.first = performance.now() - t;
          if (!v.last && withStatus === HOSTS) v.last = performance.now() - t;
          if (!v.listed && hosts.filter((h) => h.discoveredIn === 'nixosConfigurations').length === HOSTS) v.listed = performance.now() - t;
          if (v.last && v.listed) resolve();
        };
        fleet.onDidChange.on(check);
        check();
      });
      try {
        const started = discoveryFirst
          ? // What ensureStarted did before: every host waited for the flake's evaluation.
            startup.rediscover().then(() => fleet.start())
          : startup.start();
        await Promise.race([Promise.all([done, started]), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`not every host online with its status within 120 s`)), 120_000)))]);
        if (fleet.problems.length) throw new Error(`discovery: ${fleet.problems.join('; ')}`);
        return v;
      } finally {
        clearTimeout(timer);
        startup.dispose();
        fleet.dispose();
      }
    };

    /** One agent round trip, the median of three hosts (first, middle, last of the view) asked one after the other. */
    const trips = async (): Promise<number> => median(await sequence([0, Math.floor(HOSTS / 2), HOSTS - 1].map((h) => () => roundTrip(h))));

    // Each view opening is divided by the round trip measured just before and after it: a busy
    // machine slows both, so the ratio holds while the milliseconds move with the load.
    const now: Round[] = [];
    const before: Round[] = [];
    const loads: number[] = [];
    for (let r = 0; r <= ROUNDS; r++) {
      // Round 0 warms up (Nix's eval cache, the agents' first answers) and is not counted; the order alternates.
      const steps = r % 2 ? [false, true] : [true, false];
      for (const discoveryFirst of steps) {
        const tripBefore = await trips();
        const view = await viewOpens(discoveryFirst);
        const trip = median([tripBefore, await trips()]);
        if (r > 0) (discoveryFirst ? before : now).push({ ...view, trip });
      }
      if (r > 0) loads.push(loadavg()[0]!);
    }
    const ratio = (rounds: Round[], k: 'first' | 'last') => median(rounds.map((x) => x[k] / x.trip));
    const ms = (rounds: Round[], k: keyof Round) => median(rounds.map((x) => x[k])).toFixed(0);
    const where = `${availableParallelism()} cores, load ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} during the runs, median of ${ROUNDS}`;
    console.log(`view-first-row: ${ratio(now, 'first').toFixed(2)}x one agent round trip (first host row with status after ${ms(now, 'first')} ms, round trip ${ms(now, 'trip')} ms; ${HOSTS} hosts in the flake and the settings; ${where}) goal <=2`);
    console.log(`view-first-row all ${HOSTS} hosts with status: ${ratio(now, 'last').toFixed(2)}x (${ms(now, 'last')} ms); the flake's ${HOSTS} hosts listed after ${ms(now, 'listed')} ms; first agent online (welcome) after ${ms(now, 'online')} ms`);
    console.log(`view-first-row evaluate-then-connect (the order before): first ${ratio(before, 'first').toFixed(2)}x (${ms(before, 'first')} ms), all ${ratio(before, 'last').toFixed(2)}x (${ms(before, 'last')} ms)`);
    console.log(`view-first-row per round (first/trip, last/trip): ${now.map((x) => `${(x.first / x.trip).toFixed(1)}/${(x.last / x.trip).toFixed(1)}`).join(' ')}`);
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await bed.cleanup();
  }
}

main().catch((err) => {
  console.error(`view-first-row bench failed: ${(err as Error).message}`);
  process.exit(1);
});
