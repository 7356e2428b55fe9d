import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rebuildSmartParams } from '../../src/fleet/rebuildSmartParams';

const defaults = { autoCommit: true, autoPush: true, updateBeforeRebuild: false, syncDotfiles: true, offlineMode: false };

test('Rebuild Smart params: settings first, arguments over them, contradictions refused', () => {
  assert.deepEqual(rebuildSmartParams(defaults, {}), { autoCommit: true, autoPush: true });
  assert.deepEqual(
    rebuildSmartParams({ ...defaults, autoPush: false, updateBeforeRebuild: true, syncDotfiles: false, offlineMode: true }, {}),
    { autoCommit: true, autoPush: false, update: true, skipDotfiles: true, offline: true },
  );
  assert.deepEqual(rebuildSmartParams({ ...defaults, offlineMode: true }, { offline: false, dryRun: true }), { autoCommit: true, autoPush: true, offline: false, dryRun: true });
  assert.throws(() => rebuildSmartParams(defaults, { dryRun: 'yes' }), /dryRun must be true or false/);
  assert.throws(() => rebuildSmartParams(defaults, { update: true, skipUpdate: true }), /contradict/);
});

test('Rebuild Smart rollback: the phase settings do not apply to it; phase arguments are refused', () => {
  const phases = { ...defaults, updateBeforeRebuild: true, syncDotfiles: false, offlineMode: true };
  assert.deepEqual(rebuildSmartParams(phases, { rollback: true }), { autoCommit: true, autoPush: true, rollback: true });
  assert.deepEqual(rebuildSmartParams(defaults, { rollback: true, dryRun: true }), { autoCommit: true, autoPush: true, rollback: true, dryRun: true });
  assert.throws(() => rebuildSmartParams(defaults, { rollback: true, offline: true }), /rollback .* takes no phase flags/);
  assert.throws(() => rebuildSmartParams(defaults, { rollback: true, skipUpdate: true }), /takes no phase flags/);
});
