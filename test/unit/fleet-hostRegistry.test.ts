// The host list as sources answer: settings and last session's hosts at once, the flake's
// attributes merged in as real `nix eval`s answer, no duplicates, removed hosts gone, and the
// list written back for the next session. Real nix eval over a real git flake in a temp dir.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Generation, HostStatus } from '../../protocol';
import { Fleet } from '../../src/fleet/fleet';
import { FleetStartup, type DiscoveryTarget } from '../../src/fleet/fleetStartup';
import type { HostEntry } from '../../src/fleet/hostConfig';
import { MEMORY_KEY, readMemory, type KeyValueStore, type RememberedHost } from '../../src/fleet/hostMemory';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function gitFlake(body: string): { dir: string; rewrite(body: string): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-reg-'));
  dirs.push(dir);
  const git = (...a: string[]) => execFileSync('git', ['-C', dir, ...a], { stdio: 'pipe' });
  const rewrite = (b: string) => {
    writeFileSync(path.join(dir, 'flake.nix'), `{ outputs = { self }: ${b}; }\n`);
    git('add', 'flake.nix');
    git('-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-qm', 'flake');
  };
  git('init', '-q', '-b', 'main');
  rewrite(body);
  return { dir, rewrite };
}

class MapStore implements KeyValueStore {
  readonly map = new Map<string, unknown>();
  writes = 0;
  get(key: string): unknown {
    return this.map.get(key);
  }
  async update(key: string, value: unknown): Promise<void> {
    this.writes++;
    this.map.set(key, JSON.parse(JSON.stringify(value)));
  }
}

function newFleet(): Fleet {
  return new Fleet({
    openSession: () => {
      throw new Error('this test opens no session');
    },
    getToken: async () => undefined,
  });
}

const entry = (name: string, platform: HostEntry['platform'] = 'nixos'): HostEntry => ({ name, address: `ws://127.0.0.1:1/${name}`, platform });

const STATUS: HostStatus = {
  host: 'h1', platform: 'nixos', agentVersion: '0.1.0', nixVersion: '2.8.1', switchMethod: 'nixos-rebuild',
  currentGeneration: 3, startedAt: '2026-12-01T10:00:00.000Z',
};
const GEN: Generation = { generation: 3, path: '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-system', createdAt: '2026-12-01T09:00:00.000Z', current: true, present: true, revision: 'abc1234', lastKnownWorking: true };

function names(fleet: Fleet): string[] {
  return fleet.hosts().map((h) => `${h.name}${h.entry ? '' : '(flake)'}`);
}

test('settings and last session\'s hosts are listed before the flake answers; the flake merges in without duplicates', async () => {
  const { dir } = gitFlake('{ nixosConfigurations = { h1 = {}; web = {}; }; darwinConfigurations = { mac = {}; }; }');
  const store = new MapStore();
  const remembered: RememberedHost[] = [
    { name: 'h1', platform: 'nixos', source: 'settings', hadAgent: true, agentVersion: '0.1.0', lastSeen: '2026-12-01T10:00:00.000Z', status: STATUS, generations: [GEN] },
    { name: 'web', platform: 'nixos', source: 'flake:nixosConfigurations', discoveredIn: 'nixosConfigurations', hadAgent: false },
    { name: 'gone', platform: 'nixos', source: 'flake:nixosConfigurations', discoveredIn: 'nixosConfigurations', hadAgent: false },
  ];
  await store.update(MEMORY_KEY, { version: 1, hosts: remembered });
  const fleet = newFleet();
  let evaluated = false;
  const startup = new FleetStartup({
    fleet,
    settingsHosts: () => ({ hosts: [entry('h1'), entry('h2', 'darwin')], errors: [] }),
    discoveryTarget: async (): Promise<DiscoveryTarget> => ({ dir }),
    memory: store,
    saveDelayMs: 10,
  });
  // At once, before any evaluation: settings hosts (agents first), then last session's flake hosts.
  assert.deepEqual(names(fleet), ['h1', 'h2', 'gone(flake)', 'web(flake)']);
  const h1 = fleet.host('h1')!;
  assert.equal(h1.connection, 'connecting');
  assert.equal(h1.status?.currentGeneration, 3, 'h1 shows its last known generation while its agent has not answered');
  assert.equal(h1.generations?.[0]?.revision, 'abc1234');
  assert.equal(fleet.host('h2')!.status, undefined, 'nothing remembered of h2: no status invented');

  const discovery = startup.rediscover().then(() => (evaluated = true));
  assert.equal(evaluated, false);
  assert.deepEqual(names(fleet), ['h1', 'h2', 'gone(flake)', 'web(flake)'], 'the list stays while nix evaluates');
  await discovery;

  // h1 is in settings and the flake: one row, with the settings entry and the flake attribute.
  assert.deepEqual(names(fleet), ['h1', 'h2', 'mac(flake)', 'web(flake)']);
  assert.equal(fleet.hosts().filter((h) => h.name === 'h1').length, 1);
  assert.equal(fleet.host('h1')!.discoveredIn, 'nixosConfigurations');
  assert.equal(fleet.host('h1')!.entry?.address, 'ws://127.0.0.1:1/h1');
  assert.equal(fleet.host('mac')!.platform, 'darwin');
  assert.equal(fleet.host('web')!.connection, 'unconfigured');
  assert.deepEqual(fleet.problems, []);

  startup.dispose();
  await new Promise((r) => setTimeout(r, 50));
  const saved = readMemory(store);
  assert.deepEqual(saved.map((h) => `${h.name}:${h.source}`), ['h1:settings', 'h2:settings', 'mac:flake:darwinConfigurations', 'web:flake:nixosConfigurations']);
  assert.equal(saved.find((h) => h.name === 'h1')?.status?.currentGeneration, 3, 'what is known of h1 is kept for the next session');
  fleet.dispose();
});

test('a host removed from the flake disappears on rediscovery; a failing attribute is a problem and keeps nothing stale', async () => {
  const flake = gitFlake('{ nixosConfigurations = { a = {}; b = {}; }; homeConfigurations = { "alice@a" = {}; }; }');
  const fleet = newFleet();
  const startup = new FleetStartup({
    fleet,
    settingsHosts: () => ({ hosts: [entry('b')], errors: ['nixfleet.hosts[1]: "address" is missing; add the agent\'s address'] }),
    discoveryTarget: async () => ({ dir: flake.dir }),
  });
  await startup.rediscover();
  assert.deepEqual(names(fleet), ['b', 'a(flake)', 'alice@a(flake)']);

  flake.rewrite('{ nixosConfigurations = { b = {}; }; homeConfigurations = { "alice@a" = {}; }; }');
  await startup.rediscover();
  assert.deepEqual(names(fleet), ['b', 'alice@a(flake)'], 'a left the flake: its row goes');
  assert.equal(fleet.host('b')!.discoveredIn, 'nixosConfigurations');

  flake.rewrite('{ nixosConfigurations = { b = {}; }; homeConfigurations = throw "broken home"; }');
  await startup.rediscover();
  assert.deepEqual(names(fleet), ['b'], 'an attribute that fails to evaluate lists nothing');
  assert.equal(fleet.problems[0], 'nixfleet.hosts[1]: "address" is missing; add the agent\'s address', 'settings problems come first');
  assert.match(fleet.problems[1] ?? '', /could not list homeConfigurations .*broken home/);

  flake.rewrite('{ nixosConfigurations = { }; }');
  await startup.rediscover();
  assert.deepEqual(names(fleet), ['b'], 'b stays: it is in the settings');
  assert.equal(fleet.host('b')!.discoveredIn, undefined);
  assert.equal(fleet.problems.length, 1);
  startup.dispose();
  fleet.dispose();
});

test('with discovery off, last session\'s flake hosts go at once; an extra source (broker) merges beside the others', async () => {
  const store = new MapStore();
  await store.update(MEMORY_KEY, {
    version: 1,
    hosts: [
      { name: 'old', platform: 'nixos', source: 'flake:nixosConfigurations', hadAgent: false },
      { name: 'k1', platform: 'nixos', source: 'broker', hadAgent: true, agentVersion: '0.1.0' },
      { name: 'BAD NAME', platform: 'nixos', source: 'settings', hadAgent: true },
      'not a host',
    ],
  });
  const fleet = newFleet();
  const startup = new FleetStartup({ fleet, settingsHosts: () => ({ hosts: [], errors: [] }), discoveryTarget: async () => ({ problem: undefined }), memory: store });
  assert.deepEqual(names(fleet), ['k1(flake)', 'old(flake)'], 'damaged entries are dropped, the others kept');
  assert.equal(fleet.host('k1')!.connection, 'connecting', 'a broker host that had an agent waits for the broker, not "no agent"');
  assert.equal(fleet.host('k1')!.entry, undefined, 'no address from last session is used before its source confirms it');
  await startup.rediscover();
  assert.deepEqual(names(fleet), ['k1(flake)'], 'discovery will not run: the flake stand-in goes');

  fleet.setSource('broker', [{ name: 'k1', platform: 'nixos', entry: entry('k1') }, { name: 'k2', platform: 'nixos', entry: entry('k2') }]);
  assert.deepEqual(names(fleet), ['k1', 'k2']);
  fleet.setSource('broker', [{ name: 'k2', platform: 'nixos', entry: entry('k2') }]);
  assert.deepEqual(names(fleet), ['k2']);
  startup.dispose();
  fleet.dispose();
});
