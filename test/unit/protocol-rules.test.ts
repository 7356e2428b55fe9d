// The contract's shared rules and per-kind results (protocol/rules.ts, protocol/results.ts):
// the one definition the agent, its CLI and the extension each apply.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CLIENT_NAME_RE,
  clientNameOf,
  formatArgv,
  gcPlan,
  GC_MAX_DAYS,
  isOldGeneration,
  OLD_GENERATION_DAYS,
  opEventId,
  opParams,
  phaseStarted,
  phaseStartLine,
  opResultOf,
  parseDays,
  REBUILD_SMART_FLAGS,
  REBUILD_SMART_PHASE_FLAGS,
  rebuildSmartConflict,
} from '../../protocol';

const DAY = 86_400_000;

test('a generation is old after OLD_GENERATION_DAYS days, not on the day', () => {
  const now = Date.parse('2026-12-01T00:00:00Z');
  assert.equal(OLD_GENERATION_DAYS, 30);
  assert.equal(isOldGeneration(now - 30 * DAY, now), false);
  assert.equal(isOldGeneration(now - 30 * DAY - 1, now), true);
  assert.equal(isOldGeneration(now - DAY, now), false);
});

test('Rebuild Smart: the flags are the schema keys; contradictions and rollback exclusivity in one rule', () => {
  assert.deepEqual([...REBUILD_SMART_FLAGS].sort(), Object.keys(opParams['rebuild-smart'].shape).sort());
  for (const f of REBUILD_SMART_PHASE_FLAGS) assert.ok(REBUILD_SMART_FLAGS.includes(f), f);
  assert.equal(rebuildSmartConflict({}), undefined);
  assert.equal(rebuildSmartConflict({ update: true, skipUpdate: true }), 'update-and-skip-update');
  assert.equal(rebuildSmartConflict({ update: true, skipUpdate: false }), undefined);
  for (const f of REBUILD_SMART_PHASE_FLAGS) assert.equal(rebuildSmartConflict({ rollback: true, [f]: true }), 'rollback-with-phase-flags', f);
  // What a rollback may carry: dry run, and the commit policy the extension always sends.
  assert.equal(rebuildSmartConflict({ rollback: true, dryRun: true, autoCommit: true, autoPush: false }), undefined);
});

test('op results are typed per kind; a result that breaks its kind schema reads as none', () => {
  assert.deepEqual(opResultOf('build', { generationBefore: 3, closureDiff: ['hello: 1.0 → 1.1'], extra: 1 })?.closureDiff, ['hello: 1.0 → 1.1']);
  assert.equal(opResultOf('build', undefined), undefined);
  assert.equal(opResultOf('build', { closureDiff: 'not a list' }), undefined);
  assert.equal(opResultOf('rebuild-smart', { rolledBack: true })?.rolledBack, true);
});

test('op events name their op the same way, whatever field carries it', () => {
  const info = { id: 'switch-1', kind: 'switch' } as never;
  assert.equal(opEventId({ type: 'op.output', op: 'switch-1', lines: [] as never }), 'switch-1');
  assert.equal(opEventId({ type: 'op.end', op: info }), 'switch-1');
  assert.equal(opEventId({ type: 'op.state', opId: 'switch-1', op: info }), 'switch-1');
});

test('client names: unprintable characters become "?", the result matches CLIENT_NAME_RE', () => {
  assert.equal(clientNameOf('vscode alice@laptop'), 'vscode alice@laptop');
  assert.equal(clientNameOf('vscode a\nb\u00e9'), 'vscode a?b?');
  assert.equal(clientNameOf('x'.repeat(300)).length, 128);
  for (const n of ['vscode a\nb', '', 'é'.repeat(200)]) assert.match(clientNameOf(n), CLIENT_NAME_RE);
  assert.doesNotMatch('a\tb', CLIENT_NAME_RE);
});

test('argv for display: plain arguments as they are, the others quoted so their boundaries show', () => {
  assert.equal(formatArgv(['nix', 'build', '--json', '/nix/store/x-y']), 'nix build --json /nix/store/x-y');
  assert.equal(formatArgv(['nix', 'build', '.#h1']), "nix build '.#h1'");
  assert.equal(formatArgv(['sh', '-c', "echo 'hi' there"]), `sh -c 'echo '\\''hi'\\'' there'`);
  assert.equal(formatArgv(['a b', '']), `'a b' ''`);
});

test('a Rebuild Smart phase start line is read back as its phase, and no other line is', () => {
  assert.equal(phaseStarted(phaseStartLine('rebuild')), 'rebuild');
  assert.equal(phaseStarted('✓ rebuild 1.2s'), undefined);
  assert.equal(phaseStarted('⏳ rebuild: running out of space'), undefined);
});

test('gc: older than the limit goes, except the current and the last known working one; the limit itself stays', () => {
  const now = Date.parse('2026-12-01T00:00:00Z');
  const gen = (generation: number, ageDays: number, marks: { current?: boolean; lastKnownWorking?: boolean } = {}) => ({
    generation,
    createdAt: new Date(now - ageDays * DAY).toISOString(),
    current: marks.current === true,
    lastKnownWorking: marks.lastKnownWorking === true,
  });
  const gens = [gen(5, 1), gen(2, 40, { lastKnownWorking: true }), gen(1, 50), gen(3, 30), gen(4, 31, { current: true }), gen(6, 45)];
  const plan = gcPlan(gens, 30, now);
  assert.deepEqual(plan.delete.map((g) => g.generation), [1, 6]);
  assert.deepEqual(plan.kept.map((k) => [k.generation.generation, k.reason]), [[2, 'last-known-working'], [4, 'current']]);
  assert.deepEqual(gcPlan(gens, 60, now), { delete: [], kept: [] });
});

test('gc: an age in days is "30d" or "30", from 1 to GC_MAX_DAYS; anything else is one sentence', () => {
  assert.equal(parseDays('30d'), 30);
  assert.equal(parseDays('7'), 7);
  assert.equal(parseDays(String(GC_MAX_DAYS)), GC_MAX_DAYS);
  for (const bad of ['0', '0d', '-1d', '1.5d', '30 d', '30days', 'd', '', '1e3', String(GC_MAX_DAYS + 1), '30d; rm -rf /']) {
    assert.throws(() => parseDays(bad), (err: Error) => /^".*" is not an age in days: give a whole number of days from 1 to 36500, such as 30d$/.test(err.message), bad);
  }
});
