import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HostStatus } from '../../protocol';
import type { HostSnapshot } from '../../src/fleet/hostSnapshot';
import { statusRows } from '../../src/fleet/statusRows';
import { summarise } from '../../src/fleet/summary';
import { flakeLockHash } from '../../protocol';
import type { WorkspaceInfo } from '../../src/fleet/workspace';

const wsRev = 'a'.repeat(40);
const ws: WorkspaceInfo = { dir: '/ws', revision: wsRev, lockHash: flakeLockHash('lock-1'), hasFlake: true };

function status(over: Partial<HostStatus> = {}): HostStatus {
  return {
    host: 'h1', platform: 'nixos', agentVersion: '0.1.0', nixVersion: '2.8.0', switchMethod: 'direct',
    currentGeneration: 3, startedAt: '2026-11-22T04:00:00Z',
    checkout: { path: '/srv/nixcfg', revision: wsRev, branch: 'main', dirty: false, ahead: 0, behind: 0, lockHash: flakeLockHash('lock-1') },
    currentRevision: wsRev,
    lastChecks: { passed: true, at: '2026-11-22T04:01:00Z' },
    ...over,
  };
}
const snap = (over: Partial<HostSnapshot> = {}): HostSnapshot => ({
  name: 'h1', platform: 'nixos', connection: 'online', agentVersion: '0.1.0', status: status(), runningOps: [], ...over,
});
const byKind = (rows: ReturnType<typeof statusRows>) => Object.fromEntries(rows.map((r) => [r.kind, r]));

test('a host in step with the workspace: all rows ok', () => {
  const rows = byKind(statusRows(snap(), ws));
  assert.deepEqual(Object.keys(rows), ['agent', 'git', 'lock', 'system', 'tests']);
  for (const r of Object.values(rows)) assert.equal(r.level, 'ok', `${r.kind}: ${r.value}`);
  assert.equal(rows.agent!.value, 'online · 0.1.0');
  assert.match(rows.git!.value, /^aaaaaaa \(main\) · up to date with origin$/);
  assert.equal(rows.lock!.value, 'matches the workspace');
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
  }), ws));
  assert.equal(rows.git!.level, 'warn');
  assert.match(rows.git!.value, /3 behind, 1 ahead of origin, uncommitted changes/);
  assert.equal(rows.lock!.value, 'outdated');
  assert.equal(rows.system!.value, "generation 3 from bbbbbbb, not the workspace's aaaaaaa");
  assert.equal(rows.tests!.level, 'error');
  assert.match(rows.tests!.tooltip, /degraded/);
});

test('same flake.lock but another commit (e.g. after a revert the host has not pulled): Lock is outdated, naming both commits', () => {
  const rows = byKind(statusRows(snap({ status: status({ checkout: { ...status().checkout!, revision: 'c'.repeat(40) } }) }), ws));
  assert.equal(rows.lock!.level, 'warn');
  assert.equal(rows.lock!.value, 'outdated: checkout at ccccccc, workspace at aaaaaaa');
  assert.match(rows.lock!.tooltip, /revert/);
  // Once the host pulls the workspace's commit, it matches again.
  assert.equal(byKind(statusRows(snap(), ws)).lock!.value, 'matches the workspace');
  // A flake without flake.lock (no inputs): the commit still tells outdated from unknown.
  const noLock = { ...status().checkout!, lockHash: undefined };
  const wsNoLock = { ...ws, lockHash: undefined };
  assert.equal(byKind(statusRows(snap({ status: status({ checkout: { ...noLock, revision: 'c'.repeat(40) } }) }), wsNoLock)).lock!.level, 'warn');
  assert.equal(byKind(statusRows(snap({ status: status({ checkout: noLock }) }), wsNoLock)).lock!.value, 'unknown');
});

test('Git row reads as English for behind only, ahead only, and both', () => {
  const git = (behind: number, ahead: number) =>
    byKind(statusRows(snap({ status: status({ checkout: { ...status().checkout!, behind, ahead } }) }), ws)).git!.value;
  assert.match(git(3, 0), /· 3 behind origin$/);
  assert.match(git(0, 1), /· 1 ahead of origin$/);
  assert.match(git(3, 1), /· 3 behind, 1 ahead of origin$/);
});

test('lock hashes compare across hex, sha256: and SRI spellings', () => {
  const sri = 'sha256-' + Buffer.from(flakeLockHash('lock-1'), 'hex').toString('base64');
  const rows = byKind(statusRows(snap({ status: status({ checkout: { ...status().checkout!, lockHash: sri } }) }), ws));
  assert.equal(rows.lock!.value, 'matches the workspace');
});

test('offline keeps the last known rows and says why; unconfigured says what to do', () => {
  const off = byKind(statusRows(snap({ connection: 'offline', problem: 'connection refused', lastSeen: '2026-11-22T03:00:00Z' }), ws));
  assert.equal(off.agent!.value, 'offline: connection refused');
  assert.equal(off.agent!.level, 'error');
  assert.match(off.agent!.tooltip, /last known state/);
  assert.ok(off.system, 'last known system row stays');
  const un = statusRows({ name: 'h9', platform: 'nixos', connection: 'unconfigured', discoveredIn: 'nixosConfigurations', runningOps: [] }, ws);
  assert.equal(un.length, 1);
  assert.equal(un[0]!.value, 'no agent configured');
  assert.match(un[0]!.tooltip, /Add Host/);
});

test('not recorded / not run rows are unknown, not ok', () => {
  const rows = byKind(statusRows(snap({ status: status({ currentRevision: undefined, lastChecks: undefined }) }), ws));
  assert.equal(rows.system!.level, 'unknown');
  assert.equal(rows.tests!.value, 'not run');
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
  assert.match(s.tooltip, /offline: h4 \(timed out\)/);
  assert.equal(summarise([snap()]).text, '1/1 online');
  assert.equal(summarise([snap()]).level, 'ok');
  assert.equal(summarise([]).text, 'no hosts');
});
