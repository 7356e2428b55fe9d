// Drift (src/fleet/drift.ts), the last op's outcome (hostOutcome.ts), build progress text
// (buildProgress.ts) and the pinned inputs of a flake.lock (protocol/flakeLock.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flakeLockHash, lockedInputs, type HostStatus, type OpInfo } from '../../protocol';
import { buildingText, OpProgressMessage } from '../../src/fleet/buildProgress';
import { hostDrift, worstLevel } from '../../src/fleet/drift';
import { lastOutcome } from '../../src/fleet/hostOutcome';
import type { HostSnapshot } from '../../src/fleet/hostSnapshot';
import type { WorkspaceInfo } from '../../src/fleet/workspace';

const wsRev = 'a'.repeat(40);
const ws: WorkspaceInfo = { dir: '/ws', revision: wsRev, upstreamRevision: wsRev, lockHash: flakeLockHash('l'), hasFlake: true };

function status(over: Partial<HostStatus> = {}): HostStatus {
  return {
    host: 'h1', platform: 'nixos', agentVersion: '0.1.0', nixVersion: '2.8.0', switchMethod: 'direct',
    currentGeneration: 3, lastKnownWorking: 3, startedAt: '2026-11-22T04:00:00Z',
    checkout: { path: '/srv/nixcfg', revision: wsRev, branch: 'main', dirty: false, ahead: 0, behind: 0 },
    currentRevision: wsRev,
    runningSystem: { path: '/nix/store/x-system', generation: 3 },
    lastChecks: { passed: true, at: '2026-11-22T04:01:00Z' },
    ...over,
  };
}
const snap = (over: Partial<HostSnapshot> = {}): HostSnapshot => ({ name: 'h1', platform: 'nixos', connection: 'online', status: status(), runningOps: [], ...over });

let seq = 0;
function op(kind: OpInfo['kind'], state: OpInfo['state'], over: Partial<OpInfo> = {}): OpInfo {
  seq++;
  const at = new Date(Date.parse('2026-11-22T04:00:00Z') + seq * 60_000).toISOString();
  return {
    id: `${kind}-${seq}`, kind, params: {}, state, client: { name: 'test', auth: 'token:x' }, startedAt: at, endedAt: state === 'running' ? undefined : at,
    lastSeq: 1, agentVersion: '0.1.0', ...over,
  };
}
/** ops.list order: newest first. */
const newestFirst = (...ops: OpInfo[]) => [...ops].reverse();

test('a host in step with the workspace has no drift', () => {
  assert.deepEqual(hostDrift(snap(), ws), []);
  assert.equal(worstLevel([]), 'ok');
});

test('the last op\'s outcome: failed, undone by a rollback, cleared by a later success or passing tests', () => {
  const failed = op('switch', 'failed', { error: 'host h1: activation of generation 4 failed (exit 1)' });
  assert.deepEqual(lastOutcome(newestFirst(op('switch', 'succeeded'), failed)), {
    state: 'failed', op: failed.id, kind: 'switch', at: failed.endedAt, detail: failed.error, generationFailed: undefined, generationAfter: undefined,
  });
  // A later successful switch clears it; a running op and a build do not count either way.
  assert.equal(lastOutcome(newestFirst(failed, op('switch', 'succeeded', { result: { checks: 'passed' } }))), undefined);
  assert.equal(lastOutcome(newestFirst(failed, op('build', 'succeeded'), op('switch', 'running')))?.state, 'failed');
  // Failing Run Tests does not clear it; passing Run Tests does (the host is healthy as it is).
  assert.equal(lastOutcome(newestFirst(failed, op('test', 'failed', { result: { checks: 'failed' } })))?.state, 'failed');
  assert.equal(lastOutcome(newestFirst(failed, op('test', 'succeeded', { result: { checks: 'passed' } }))), undefined);
  // A rollback is an undone deploy, though it succeeded; so is a switch whose generation was undone (magic rollback).
  const rb = op('rollback', 'succeeded', { result: { generationBefore: 4, generationAfter: 3 } });
  assert.equal(lastOutcome(newestFirst(op('switch', 'succeeded'), rb))?.state, 'undone');
  assert.equal(lastOutcome(newestFirst(op('switch', 'succeeded', { result: { generationFailed: 4, generationAfter: 3 } })))?.generationFailed, 4);
  assert.equal(lastOutcome(newestFirst(op('rebuild-smart', 'succeeded', { result: { rolledBack: true } })))?.state, 'undone');
  // Dry runs change nothing: they neither set nor clear an outcome.
  assert.equal(lastOutcome(newestFirst(failed, op('rebuild-smart', 'succeeded', { params: { dryRun: true } })))?.state, 'failed');
  assert.equal(lastOutcome(newestFirst(op('pull', 'interrupted')))?.kind, 'pull');
  // A good pull fixes a failed pull, not a failed switch.
  assert.equal(lastOutcome(newestFirst(op('pull', 'failed'), op('pull', 'succeeded'))), undefined);
  assert.equal(lastOutcome(newestFirst(failed, op('pull', 'succeeded')))?.op, failed.id);
  assert.equal(lastOutcome([]), undefined);
});

test('drift after a failed deploy: error, worst first, one click to Switch again', () => {
  const o = lastOutcome([op('switch', 'failed', { error: 'activation failed' })]);
  const d = hostDrift(snap({ lastOutcome: o }), ws);
  assert.equal(d.length, 1);
  assert.equal(d[0]!.kind, 'op-failed');
  assert.equal(d[0]!.short, 'switch failed');
  assert.equal(d[0]!.level, 'error');
  assert.match(d[0]!.detail, /activation failed.*Switch again/s);
  assert.deepEqual(d[0]!.fix, { command: 'nixfleet.switch', title: 'Switch', args: { host: 'h1' } });
  // A failed pull's fix is Pull.
  assert.equal(hostDrift(snap({ lastOutcome: lastOutcome([op('pull', 'failed')]) }), ws)[0]!.fix?.command, 'nixfleet.pull');
});

test('drift after a rollback: "rolled back to gen 3", fixed by Run Tests', () => {
  const o = lastOutcome([op('rollback', 'succeeded', { result: { generationBefore: 4, generationAfter: 3 } })]);
  const [d] = hostDrift(snap({ lastOutcome: o }), ws);
  assert.equal(d!.short, 'rolled back to gen 3');
  assert.equal(d!.level, 'warn');
  assert.equal(d!.fix?.command, 'nixfleet.runTests');
});

test('drift after nix-env --set: the host runs generation 3, its profile is at 4, and tests never ran on 4', () => {
  const s = snap({ status: status({ currentGeneration: 4, lastChecks: undefined, runningSystem: { path: '/nix/store/x-system', generation: 3 } }) });
  const d = hostDrift(s, ws);
  assert.deepEqual(d.map((x) => x.kind), ['not-running-profile', 'tests-not-run']);
  assert.equal(d[0]!.short, 'runs gen 3, profile at 4');
  assert.deepEqual(d[0]!.fix, { command: 'nixfleet.rollback', title: 'Rollback to 3', args: { host: 'h1', generation: 3 } });
  assert.equal(worstLevel(d), 'error');
  // A system outside the profile (activated by hand): Switch is the fix.
  const outside = hostDrift(snap({ status: status({ runningSystem: { path: '/nix/store/y' } }) }), ws);
  assert.equal(outside[0]!.short, 'runs a system outside the profile');
  assert.equal(outside[0]!.fix?.command, 'nixfleet.switch');
});

test('tests failed: roll back to the last known working generation, or rerun when it is the current one', () => {
  const failed = { passed: false, at: '2026-11-22T04:01:00Z', detail: 'degraded' };
  const d = hostDrift(snap({ status: status({ currentGeneration: 4, lastKnownWorking: 3, lastChecks: failed, runningSystem: { path: '/p', generation: 4 } }) }), ws);
  assert.equal(d[0]!.kind, 'tests-failed');
  assert.deepEqual(d[0]!.fix?.args, { host: 'h1', generation: 3 });
  assert.equal(hostDrift(snap({ status: status({ lastChecks: failed }) }), ws)[0]!.fix?.command, 'nixfleet.runTests');
});

test('checkout and system commits: Git drift offers Pull only when the workspace commit is pushed', () => {
  const other = 'b'.repeat(40);
  const behind = hostDrift(snap({ status: status({ checkout: { ...status().checkout!, revision: other }, currentRevision: other }) }), ws);
  assert.deepEqual(behind.map((x) => x.kind), ['checkout'], 'the system commit is not repeated when the checkout already says it');
  assert.equal(behind[0]!.short, 'checkout at bbbbbbb');
  assert.equal(behind[0]!.fix?.command, 'nixfleet.pull');
  const unpushed = hostDrift(snap({ status: status({ checkout: { ...status().checkout!, revision: other } }) }), { ...ws, upstreamRevision: other });
  assert.equal(unpushed[0]!.fix, undefined);
  assert.match(unpushed[0]!.detail, /Push the workspace commit/);
  // Pulled but not switched: the system is from the old commit.
  const notSwitched = hostDrift(snap({ status: status({ currentRevision: other }) }), ws);
  assert.deepEqual(notSwitched.map((x) => [x.kind, x.fix?.command]), [['system-commit', 'nixfleet.switch']]);
});

test('errors come before warnings whatever their kind; unconfigured hosts have none', () => {
  const s = snap({
    lastOutcome: lastOutcome([op('rollback', 'succeeded')]),
    status: status({ lastChecks: { passed: false, at: '2026-11-22T04:01:00Z' }, lastKnownWorking: undefined }),
  });
  assert.deepEqual(hostDrift(s, ws).map((x) => x.kind), ['tests-failed', 'undone']);
  assert.deepEqual(hostDrift({ name: 'h9', platform: 'nixos', connection: 'unconfigured', runningOps: [], lastOutcome: s.lastOutcome }, ws), []);
});

test('build progress reads "building 3/12 derivations, 45 MiB fetched"', () => {
  const p = { built: 3, toBuild: 12, running: 1, failed: 0, copied: 0, toCopy: 0, fetchedBytes: 45 * 1024 * 1024, toFetchBytes: 0 };
  assert.equal(buildingText(p), 'building 3/12 derivations, 45.0 MiB fetched');
  assert.equal(buildingText({ ...p, toBuild: 1, built: 0, failed: 1, copied: 2, toCopy: 5, fetchedBytes: 0 }), 'building 0/1 derivation (1 failed), 2/5 paths');
});

test('the progress notification: build counts lead, the latest log line follows, within 90 characters', () => {
  const m = new OpProgressMessage();
  const line = (seq: number, text: string, progress?: Parameters<typeof buildingText>[0]) => ({ seq, stream: 'info' as const, text, time: '2026-11-22T04:00:00Z', progress });
  const text = (): string => m.text;
  m.accept([line(1, 'evaluating')]);
  assert.equal(text(), 'evaluating');
  const p = { built: 1, toBuild: 4, running: 1, failed: 0, copied: 0, toCopy: 0, fetchedBytes: 0, toFetchBytes: 0 };
  m.accept([line(2, 'build progress: 1/4 derivations built', p)]);
  assert.equal(text(), 'building 1/4 derivations · evaluating');
  m.accept([line(3, "building '/nix/store/" + 'x'.repeat(100) + ".drv'")]);
  assert.equal(text().length, 90);
  assert.match(text(), /^building 1\/4 derivations · building '\/nix\/store\/x+…$/);
});

test('lockedInputs: each root input\'s rev (or narHash), through follows; not a lock file: undefined', () => {
  const lock = {
    version: 7,
    root: 'root',
    nodes: {
      root: { inputs: { nixpkgs: 'nixpkgs', hm: 'hm', pinned: ['hm', 'nixpkgs'] } },
      nixpkgs: { locked: { type: 'github', rev: '1'.repeat(40), narHash: 'sha256-N' } },
      hm: { inputs: { nixpkgs: 'nixpkgs_2' }, locked: { type: 'path', narHash: 'sha256-H' } },
      nixpkgs_2: { locked: { rev: '2'.repeat(40) } },
    },
  };
  assert.deepEqual(lockedInputs(JSON.stringify(lock)), { nixpkgs: '1'.repeat(40), hm: 'sha256-H', pinned: '2'.repeat(40) });
  assert.equal(lockedInputs('not json'), undefined);
  assert.equal(lockedInputs('{"nodes": {}}'), undefined);
  // A follows cycle in a damaged file ends instead of hanging.
  const cyclic = { root: 'root', nodes: { root: { inputs: { a: ['a'] } } } };
  assert.deepEqual(lockedInputs(JSON.stringify(cyclic)), {});
});
