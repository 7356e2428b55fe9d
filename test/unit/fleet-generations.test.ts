import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Generation } from '../../protocol';
import { defaultRollbackTarget, describeGeneration, planRollback, rollbackTargets } from '../../src/fleet/generations';

const now = Date.parse('2026-11-22T04:00:00Z');
const day = 86_400_000;
function gen(n: number, daysAgo: number, over: Partial<Generation> = {}): Generation {
  return { generation: n, path: `/nix/var/nix/profiles/system-${n}-link`, createdAt: new Date(now - daysAgo * day).toISOString(), current: false, present: true, lastKnownWorking: false, ...over };
}

test('rollback targets: newest first, never the current or a collected one; last known working preselected', () => {
  const gens = [gen(1, 40, { present: false }), gen(2, 35), gen(3, 10, { lastKnownWorking: true, checks: { passed: true, at: 'x' } }), gen(4, 2), gen(5, 1, { current: true })];
  assert.deepEqual(rollbackTargets(gens).map((g) => g.generation), [4, 3, 2]);
  assert.equal(defaultRollbackTarget(gens)!.generation, 3);
  assert.equal(defaultRollbackTarget(gens.map((g) => ({ ...g, lastKnownWorking: false })))!.generation, 4);
  assert.equal(defaultRollbackTarget([gen(1, 1, { current: true })]), undefined);
});

test('rollback plan names FROM and TO and warns for targets older than 30 days', () => {
  const gens = [gen(2, 35, { revision: 'c0ffee0123', checks: { passed: false, at: 'x' } }), gen(3, 10, { checks: { passed: true, at: 'x' } }), gen(5, 1, { current: true, revision: 'deadbeef99' })];
  const p = planRollback('h1', gens, 2, now);
  assert.equal(p.old, true);
  assert.match(p.message, /^Roll back h1 from generation 5 \(.*deadbee.*\) to generation 2 \(.*c0ffee0.*tests failed\)\?/);
  assert.match(p.message, /35 days old/);
  assert.match(p.message, /failed its health checks/);
  assert.match(p.detail, /^From: generation 5, .*deadbee.*\nTo: generation 2, .*c0ffee0.*\n\nWarning: generation 2 is 35 days old/);
  assert.equal(planRollback('h1', gens, 3, now).old, false);
  assert.doesNotMatch(planRollback('h1', gens, 3, now).detail, /Warning/);
  assert.throws(() => planRollback('h1', gens, 9, now), /host h1 has no generation 9/);
  assert.throws(() => planRollback('h1', gens, 5, now), /already runs generation 5/);
  assert.match(describeGeneration(gen(4, 3)), /commit unknown · tests not run$/);
  assert.equal(p.question, 'Roll back h1 to generation 2?');
  assert.equal(p.done, 'Rolled back h1 to generation 2');
});

test('rollback plan to a newer generation says "Switch"; a target whose checks never ran is warned about', () => {
  const gens = [gen(1, 5, { current: true, checks: { passed: true, at: 'x' } }), gen(2, 4), gen(3, 3, { checks: { passed: true, at: 'x' } })];
  const p = planRollback('h1', gens, 2, now);
  assert.equal(p.newer, true);
  assert.equal(p.question, 'Switch h1 to generation 2?');
  assert.equal(p.done, 'Switched h1 to generation 2');
  assert.match(p.message, /^Switch h1 from generation 1 /);
  assert.match(p.detail, /To: generation 2, .* \(newer than the current one\)\n\nWarning: the health checks never ran on generation 2/);
  assert.doesNotMatch(planRollback('h1', gens, 3, now).detail, /Warning/);
  assert.equal(planRollback('h1', [gen(1, 5), gen(2, 4, { current: true })], 1, now).newer, false);
});
