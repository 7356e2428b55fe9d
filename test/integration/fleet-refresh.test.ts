// How host rows fill in with their status, against real agents on loopback: a session that
// comes online is refreshed at once (not after the batch window); at most REFRESHING_AT_ONCE
// status requests are in flight, asked in the view's order; later refreshes still batch; an
// offline host that comes up gets its status; every host ends with one; the top row's host
// opens alone until its row has its status. And the flake's evaluation starts once the first
// row has its status, not in front of it.
// Sessions are real agent sessions; the tests only count the status requests they send.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, startAgent, waitFor, type RunningAgent } from './agent-harness';
import { openAgentSession } from '../../src/fleet/agentSession';
import { discoverFlakeHosts } from '../../src/fleet/discovery';
import { Fleet } from '../../src/fleet/fleet';
import { FleetStartup } from '../../src/fleet/fleetStartup';
import type { HostEntry } from '../../src/fleet/hostConfig';
import { REFRESHING_AT_ONCE } from '../../src/fleet/hostRefresh';
import type { HostSnapshot } from '../../src/fleet/hostSnapshot';
import type { AgentSession } from '../../src/fleet/session';

/** More hosts than REFRESHING_AT_ONCE, so the bound shows. */
const NAMES = Array.from({ length: REFRESHING_AT_ONCE + 3 }, (_, i) => `r${String(i + 1).padStart(2, '0')}`);
/** Listed in the settings in another order than the view's (by name). */
const SETTINGS_ORDER = [...NAMES].reverse();
/** A batch window no test waits for: a status that arrives was not batched. */
const NEVER_MS = 600_000;

/** Real sessions whose status requests are recorded: which host, and how many were in flight at most. */
class StatusLog {
  asked: string[] = [];
  inFlight = 0;
  most = 0;
  reset(): void {
    this.asked = [];
    this.most = 0;
  }
  wrap(s: AgentSession): AgentSession {
    const status = s.status.bind(s);
    s.status = async () => {
      this.asked.push(s.host);
      this.most = Math.max(this.most, ++this.inFlight);
      try {
        return await status();
      } finally {
        this.inFlight--;
      }
    };
    return s;
  }
}

function newFleet(bed: TestBed, log: StatusLog, refreshDelayMs: number, opts: { headStartMs?: number; onOpen?: (host: string) => void } = {}): Fleet {
  return new Fleet({
    openSession: (entry, endpoint, token) => {
      opts.onOpen?.(entry.name);
      return log.wrap(openAgentSession({ entry, endpoint, token, clientName: 'fleet-refresh-test', clientVersion: '1', requestTimeoutMs: 30_000 }));
    },
    getToken: async () => bed.token,
    refreshDelayMs,
    headStartMs: opts.headStartMs,
  });
}

const withStatus = (hosts: HostSnapshot[]) => hosts.filter((h) => h.connection === 'online' && h.status).map((h) => h.name);

/** A loopback port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('host rows fill in with their status', { skip: !existsSync(AGENT_JS) && 'dist/agent.js missing: run npm run build' }, () => {
  let bed: TestBed;
  const agents = new Map<string, RunningAgent>();
  let entries: HostEntry[];

  before(async () => {
    bed = await createTestBed({ hosts: NAMES.map((name) => ({ name, platform: 'nixos' as const })) });
    for (let i = 0; i < NAMES.length; i += 4) {
      await Promise.all(NAMES.slice(i, i + 4).map(async (h) => agents.set(h, await startAgent(bed, h))));
    }
    entries = SETTINGS_ORDER.map((h) => ({ name: h, address: agents.get(h)!.url, platform: 'nixos' as const }));
  });

  after(async () => {
    await Promise.all([...agents.values()].map((a) => a.stop()));
    await bed?.cleanup();
  });

  it('a new session gets its status at once, not after the batch window; at most REFRESHING_AT_ONCE are asked at a time; every host ends with one', async () => {
    const log = new StatusLog();
    const fleet = newFleet(bed, log, NEVER_MS);
    try {
      fleet.configure(entries, [], []);
      await fleet.start();
      await waitFor('every host online with its status', () => withStatus(fleet.hosts()).length === NAMES.length, 60_000);
      assert.deepEqual(withStatus(fleet.hosts()), NAMES);
      assert.equal(log.asked.length, NAMES.length, 'one status request per new session');
      assert.ok(log.most <= REFRESHING_AT_ONCE, `${log.most} status requests in flight at once`);
    } finally {
      fleet.dispose();
    }
  });

  it('the first row\'s host opens alone: the other sessions open once its row has its status', async () => {
    const log = new StatusLog();
    const opened: { host: string; firstHadStatus: boolean }[] = [];
    // A head start no test waits for: the others open because the first row got its status.
    const fleet: Fleet = newFleet(bed, log, NEVER_MS, {
      headStartMs: NEVER_MS,
      onOpen: (host) => opened.push({ host, firstHadStatus: withStatus(fleet.hosts()).includes(NAMES[0]!) }),
    });
    try {
      fleet.configure(entries, [], []);
      await fleet.start();
      await waitFor('every host online with its status', () => withStatus(fleet.hosts()).length === NAMES.length, 60_000);
      assert.equal(opened[0]!.host, NAMES[0], 'the top row opens first');
      assert.equal(opened[0]!.firstHadStatus, false);
      assert.deepEqual(opened.slice(1).filter((o) => !o.firstHadStatus).map((o) => o.host), [], 'no other session opened before the first row had its status');
      assert.equal(opened.length, NAMES.length);
    } finally {
      fleet.dispose();
    }
  });

  it('Refresh of every host asks REFRESHING_AT_ONCE at a time, in the view\'s order; later refreshes of a few hosts are batched into one run', async () => {
    const log = new StatusLog();
    const fleet = newFleet(bed, log, 150);
    try {
      fleet.configure(entries, [], []);
      await fleet.start();
      await waitFor('every host online with its status', () => withStatus(fleet.hosts()).length === NAMES.length, 60_000);
      // Their first refreshes (generations, ops) end before the counting starts.
      await fleet.refresh();

      log.reset();
      const before = new Map(fleet.hosts().map((h) => [h.name, h.status]));
      await fleet.refresh();
      assert.deepEqual(log.asked, fleet.hosts().map((h) => h.name), 'asked in the order the rows show');
      assert.equal(log.most, REFRESHING_AT_ONCE, 'the first rows fill the places, no more');
      assert.ok(fleet.hosts().every((h) => h.status !== before.get(h.name)), 'every host has the new status');

      log.reset();
      await Promise.all([fleet.refresh('r03'), fleet.refresh('r01'), fleet.refresh('r03')]);
      assert.deepEqual(log.asked, ['r01', 'r03'], 'a burst is one run with each host once');
    } finally {
      fleet.dispose();
    }
  });

  it('a host whose agent starts later (offline first) gets its status when its session retries', async () => {
    const port = await freePort();
    const late = NAMES[0]!;
    const log = new StatusLog();
    const fleet = newFleet(bed, log, NEVER_MS);
    let agent: RunningAgent | undefined;
    try {
      fleet.configure(entries.map((e) => (e.name === late ? { ...e, address: `ws://127.0.0.1:${port}` } : e)), [], []);
      await fleet.start();
      await waitFor(`${late} offline`, () => fleet.host(late)?.connection === 'offline', 30_000);
      agent = await startAgent(bed, late, { port });
      await waitFor(`${late} online with its status`, () => withStatus(fleet.hosts()).includes(late), 60_000);
      await waitFor('every host with its status', () => withStatus(fleet.hosts()).length === NAMES.length, 60_000);
    } finally {
      fleet.dispose();
      await agent?.stop();
    }
  });

  it('the flake\'s evaluation starts once the first row has its status, and at once when no host has an agent', async () => {
    const log = new StatusLog();
    const fleet = newFleet(bed, log, NEVER_MS);
    const seen: string[][] = [];
    const startup = new FleetStartup({
      fleet,
      settingsHosts: () => ({ hosts: entries, errors: [] }),
      discoveryTarget: async () => ({ dir: bed.workstation }),
      // The order under test, not the 200 ms bound: on a loaded machine no agent may answer
      // within it, and the evaluation would rightly start without the first row.
      firstRowWaitMs: 60_000,
      discover: (dir, opts) => {
        seen.push(fleet.hosts().filter((h) => h.connection === 'online' || h.connection === 'offline').map((h) => h.name));
        return discoverFlakeHosts(dir, opts);
      },
    });
    try {
      await startup.start();
      assert.equal(seen.length, 1);
      assert.ok(seen[0]!.length > 0, 'a host had answered when nix eval started');
      assert.equal(fleet.hosts().filter((h) => h.discoveredIn === 'nixosConfigurations').length, NAMES.length, 'the flake\'s hosts merged in');
    } finally {
      startup.dispose();
      fleet.dispose();
    }

    const alone = new Fleet({ openSession: () => assert.fail('no host has an agent'), getToken: async () => undefined });
    let evaluated = false;
    const flakeOnly = new FleetStartup({
      fleet: alone,
      settingsHosts: () => ({ hosts: [], errors: [] }),
      discoveryTarget: async () => ({ dir: bed.workstation }),
      discover: (dir, opts) => {
        evaluated = true;
        return discoverFlakeHosts(dir, opts);
      },
    });
    try {
      // Nothing to wait for: the evaluation is under way before start()'s first await returns.
      const started = flakeOnly.start();
      await new Promise((r) => setImmediate(r));
      assert.equal(evaluated, true);
      await started;
      assert.equal(alone.hosts().length, NAMES.length);
    } finally {
      flakeOnly.dispose();
      alone.dispose();
    }
  });

  it('an agent that accepts and never answers holds the evaluation up only for a moment', async () => {
    // A loopback server that takes the connection and says nothing: the session stays connecting.
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const fleet = new Fleet({
      openSession: (entry, endpoint, token) => openAgentSession({ entry, endpoint, token, clientName: 'fleet-refresh-test', clientVersion: '1', requestTimeoutMs: 30_000 }),
      getToken: async () => bed.token,
    });
    let stateWhenEvaluated: string | undefined;
    const startup = new FleetStartup({
      fleet,
      settingsHosts: () => ({ hosts: [{ name: 'quiet', address: `ws://127.0.0.1:${port}`, platform: 'nixos' }], errors: [] }),
      discoveryTarget: async () => ({ dir: bed.workstation }),
      discover: (dir, opts) => {
        stateWhenEvaluated = fleet.host('quiet')?.connection;
        return discoverFlakeHosts(dir, opts);
      },
    });
    try {
      await startup.start();
      assert.equal(stateWhenEvaluated, 'connecting', 'the evaluation did not wait for an answer that never came');
      assert.equal(fleet.hosts().filter((h) => h.discoveredIn === 'nixosConfigurations').length, NAMES.length);
    } finally {
      startup.dispose();
      fleet.dispose();
      sockets.forEach((s) => s.destroy());
      await new Promise((r) => silent.close(r));
    }
  });
});
