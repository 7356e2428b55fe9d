import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HostStatus } from '../../protocol';
import type { HostSnapshot } from '../../src/fleet/hostSnapshot';
import { FETCH_FRESH_MS, statusRows } from '../../src/fleet/statusRows';
import { summarise } from '../../src/fleet/summary';
import { flakeLockHash } from '../../protocol';
import type { WorkspaceInfo } from '../../src/fleet/workspace';

const wsRev = 'a'.repeat(40);
const ws: WorkspaceInfo = { dir: '/ws', revision: wsRev, upstreamRevision: wsRev, lockHash: flakeLockHash('lock-1'), hasFlake: true };
const NOW = Date.parse('2026-11-22T05:00:00Z');
const FETCHED = new Date(NOW - 5 * 60_000).toISOString();
/** Local "HH:MM" of a moment, as the rows show a fetch of the same day. */
const clock = (ms: number) => new Date(ms).toTimeString().slice(0, 5);

function status(over: Partial<HostStatus> = {}): HostStatus {
  return {
    host: 'h1', platform: 'nixos', agentVersion: '0.1.0', nixVersion: '2.8.0', switchMethod: 'direct',
    currentGeneration: 3, startedAt: '2026-11-22T04:00:00Z',
    checkout: { path: '/srv/nixcfg', revision: wsRev, branch: 'main', dirty: false, ahead: 0, behind: 0, lockHash: flakeLockHash('lock-1'), fetchedAt: FETCHED },
    currentRevision: wsRev,
    runningSystem: { path: '/nix/store/x-system', generation: 3 },
    lastChecks: { passed: true, at: '2026-11-22T04:01:00Z' },
    ...over,
  };
}
const snap = (over: Partial<HostSnapshot> = {}): HostSnapshot => ({
  name: 'h1', platform: 'nixos', connection: 'online', agentVersion: '0.1.0', status: status(), runningOps: [], ...over,
});
const byKind = (rows: ReturnType<typeof statusRows>) => Object.fromEntries(rows.filter((r) => r.kind !== 'drift').map((r) => [r.kind, r]));
const rowsOf = (s: HostSnapshot, w: WorkspaceInfo | undefined = ws) => byKind(statusRows(s, w, NOW));

test('a host in step with the workspace: all rows ok', () => {
  const rows = byKind(statusRows(snap(), ws, NOW));
  assert.deepEqual(Object.keys(rows), ['agent', 'git', 'lock', 'system', 'tests']);
  for (const r of Object.values(rows)) assert.equal(r.level, 'ok', `${r.kind}: ${r.value}`);
  assert.equal(rows.agent!.value, 'online · 0.1.0');
  assert.equal(rows.git!.value, `aaaaaaa (main) · up to date with origin (fetched ${clock(NOW - 5 * 60_000)})`);
  assert.equal(rows.lock!.value, 'same inputs as the workspace');
  assert.equal(statusRows(snap(), ws, NOW).filter((r) => r.kind === 'drift').length, 0, 'no drift rows');
  assert.equal(rows.system!.value, 'generation 3, built from the workspace commit');
  assert.match(rows.tests!.value, /^passed · /);
});

test('behind/ahead, dirty, other lock, other commit, failed tests', () => {
  const rows = byKind(statusRows(snap({
    status: status({
      checkout: { path: '/srv/nixcfg', revision: 'b'.repeat(40), dirty: true, ahead: 1, behind: 3, lockHash: 'sha256:' + flakeLockHash('lock-0').toUpperCase() },
      currentRevision: 'b'.repeat(40),
      lastChecks: { passed: false, at: '2026-11-22T04:01:00Z', detail: 'systemctl is-system-running: degraded' },
    }),
  }), ws, NOW));
  assert.equal(rows.git!.level, 'warn');
  assert.equal(rows.git!.value, "bbbbbbb, not the workspace's aaaaaaa · 3 behind, 1 ahead of origin (never fetched), uncommitted changes");
  assert.equal(rows.lock!.value, 'differs from the workspace', 'no per-input pins reported: only that the file differs');
  assert.equal(rows.lock!.level, 'warn');
  assert.equal(rows.system!.value, "generation 3 from bbbbbbb, not the workspace's aaaaaaa");
  assert.equal(rows.tests!.level, 'error');
  assert.match(rows.tests!.tooltip, /degraded/);
});

test('same flake.lock but another commit: the Git row says it, the Lock row compares only the pinned inputs', () => {
  const rows = rowsOf(snap({ status: status({ checkout: { ...status().checkout!, revision: 'c'.repeat(40) } }) }));
  assert.equal(rows.lock!.level, 'ok');
  assert.equal(rows.lock!.value, 'same inputs as the workspace');
  assert.equal(rows.git!.level, 'warn');
  assert.match(rows.git!.value, /^ccccccc \(main\), not the workspace's aaaaaaa · /);
  assert.match(rows.git!.tooltip, /The workspace is at a{40}/);
  // A flake without flake.lock (no inputs): nothing to compare, so unknown, not "outdated".
  const noLock = { ...status().checkout!, lockHash: undefined };
  assert.equal(rowsOf(snap({ status: status({ checkout: noLock }) }), { ...ws, lockHash: undefined }).lock!.value, 'unknown');
});

test('Lock row names the inputs pinned differently, with both pins', () => {
  const wsPins = { nixpkgs: '1'.repeat(40), home: 'sha256-AAAA' };
  const hostPins = { nixpkgs: '2'.repeat(40), home: 'sha256-AAAA', extra: '3'.repeat(40) };
  const w = { ...ws, lockInputs: wsPins };
  const rows = rowsOf(snap({ status: status({ checkout: { ...status().checkout!, lockHash: flakeLockHash('lock-2'), lockInputs: hostPins } }) }), w);
  assert.equal(rows.lock!.value, 'differs: extra, nixpkgs');
  assert.equal(rows.lock!.level, 'warn');
  assert.match(rows.lock!.tooltip, /nixpkgs: 2222222 on the host, 1111111 in the workspace/);
  assert.match(rows.lock!.tooltip, /extra: 3333333 on the host, absent in the workspace/);
  // Same pins in another file (reformatted): not drift.
  const same = rowsOf(snap({ status: status({ checkout: { ...status().checkout!, lockHash: flakeLockHash('lock-2'), lockInputs: wsPins } }) }), w);
  assert.equal(same.lock!.value, 'same pins, other file');
  assert.equal(same.lock!.level, 'ok');
});

test('"up to date with origin" only when fetched within FETCH_FRESH_MS, saying when (a time, not an age that goes stale)', () => {
  const git = (fetchedAt: string | undefined, now = NOW) =>
    byKind(statusRows(snap({ status: status({ checkout: { ...status().checkout!, fetchedAt } }) }), ws, now)).git!;
  const edge = NOW - FETCH_FRESH_MS;
  assert.equal(git(new Date(edge).toISOString()).value, `aaaaaaa (main) · up to date with origin (fetched ${clock(edge)})`);
  const stale = git(new Date(edge - 60_000).toISOString());
  assert.equal(stale.value, `aaaaaaa (main) · not behind origin as of its last fetch (fetched ${clock(edge - 60_000)})`);
  assert.equal(stale.level, 'unknown');
  assert.match(stale.tooltip, /Pull fetches from origin/);
  assert.equal(git(undefined).value, 'aaaaaaa (main) · not behind origin as of its last fetch (never fetched)');
  // Another day: the date too.
  const old = NOW - 3 * 86_400_000;
  assert.match(git(new Date(old).toISOString()).value, new RegExp(`\\(fetched ${new Date(old).getFullYear()}-\\d\\d-\\d\\d ${clock(old)}\\)$`));
});

test("System row: the running system is not the profile's current generation", () => {
  const moved = rowsOf(snap({ status: status({ currentGeneration: 4, runningSystem: { path: '/nix/store/x-system', generation: 3 } }) }));
  assert.equal(moved.system!.value, 'runs generation 3, profile at generation 4');
  assert.equal(moved.system!.level, 'error');
  assert.match(moved.system!.tooltip, /reboot would switch to generation 4/);
  const outside = rowsOf(snap({ status: status({ runningSystem: { path: '/nix/store/y-system' } }) }));
  assert.equal(outside.system!.value, 'runs a system outside the profile, profile at generation 3');
  // An agent that does not report what runs: the row says the generation, and that it is assumed.
  const old = rowsOf(snap({ status: status({ runningSystem: undefined }) }));
  assert.equal(old.system!.level, 'ok');
  assert.match(old.system!.tooltip, /assumed/);
});

test('Git row reads as English for behind only, ahead only, and both', () => {
  const git = (behind: number, ahead: number) =>
    rowsOf(snap({ status: status({ checkout: { ...status().checkout!, behind, ahead } }) })).git!.value;
  assert.match(git(3, 0), /· 3 behind origin \(fetched \d\d:\d\d\)$/);
  assert.match(git(0, 1), /· 1 ahead of origin \(fetched \d\d:\d\d\)$/);
  assert.match(git(3, 1), /· 3 behind, 1 ahead of origin \(fetched \d\d:\d\d\)$/);
});

test('lock hashes compare across hex, sha256: and SRI spellings', () => {
  const sri = 'sha256-' + Buffer.from(flakeLockHash('lock-1'), 'hex').toString('base64');
  const rows = rowsOf(snap({ status: status({ checkout: { ...status().checkout!, lockHash: sri } }) }));
  assert.equal(rows.lock!.value, 'same inputs as the workspace');
});

test('offline keeps the last known rows and says why; unconfigured says what to do', () => {
  const off = rowsOf(snap({ connection: 'offline', problem: 'connection refused', lastSeen: '2026-11-22T03:00:00Z' }));
  assert.equal(off.agent!.value, 'offline: connection refused');
  assert.equal(off.agent!.level, 'error');
  assert.match(off.agent!.tooltip, /last known state/);
  assert.ok(off.system, 'last known system row stays');
  assert.equal(off.agent!.fix, undefined, 'no command fixes a refused connection');
  // A refused token: the row runs Set Agent Token for this host when clicked.
  const refused = rowsOf(snap({ connection: 'offline', problem: 'the agent refused the token (401)', problemCode: 'unauthorized' }));
  assert.deepEqual(refused.agent!.fix, { command: 'nixfleet.setAgentToken', title: 'Set Agent Token', args: { host: 'h1', treeNode: true } });
  assert.match(refused.agent!.tooltip, /Click to run Set Agent Token\./);
  const un = statusRows({ name: 'h9', platform: 'nixos', connection: 'unconfigured', discoveredIn: 'nixosConfigurations', runningOps: [] }, ws);
  assert.equal(un.length, 1);
  assert.equal(un[0]!.value, 'no agent configured');
  assert.match(un[0]!.tooltip, /Add Host/);
});

test('not recorded is unknown, not ok; tests never run on the current generation is a warning', () => {
  const rows = rowsOf(snap({ status: status({ currentRevision: undefined, lastChecks: undefined }) }));
  assert.equal(rows.system!.level, 'unknown');
  assert.equal(rows.tests!.value, 'not run on generation 3');
  assert.equal(rows.tests!.level, 'warn');
  assert.equal(rowsOf(snap({ status: status({ currentGeneration: undefined, lastChecks: undefined }) })).tests!.level, 'unknown');
});

test('status bar summary: online count, failing, offline reasons', () => {
  const hosts = [
    snap({ name: 'h1' }),
    snap({ name: 'h2', status: status({ lastChecks: { passed: false, at: '2026-11-22T04:01:00Z' } }) }),
    snap({ name: 'h3' }),
    snap({ name: 'h4', connection: 'offline', problem: 'timed out' }),
    { name: 'h5', platform: 'nixos' as const, connection: 'unconfigured' as const, runningOps: [] },
  ];
  const s = summarise(hosts);
  assert.equal(s.text, '3/4 online, 1 failing');
  assert.equal(s.level, 'error');
  assert.match(s.tooltip, /failing: h2 \(tests failed\)/);
  assert.match(s.tooltip, /offline: h4 \(timed out\)/);
  assert.equal(summarise([snap()]).text, '1/1 online');
  assert.equal(summarise([snap()]).level, 'ok');
  assert.equal(summarise([]).text, 'no hosts');
});
