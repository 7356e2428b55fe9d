import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutputTracker } from '../../src/fleet/outputTracker';

test('output lines are shown once, in seq order, across replays; gaps are reported', () => {
  const t = new OutputTracker();
  const line = (seq: number) => ({ seq, stream: 'stdout' as const, text: `line ${seq}`, time: '2026-11-22T04:00:00Z' });
  assert.deepEqual(t.accept('op1', [line(1), line(2)]).fresh.map((l) => l.seq), [1, 2]);
  // a reconnect replays from an older point: nothing shown twice
  assert.deepEqual(t.accept('op1', [line(2), line(3), line(1)]).fresh.map((l) => l.seq), [3]);
  assert.equal(t.lastSeq('op1'), 3);
  const g = t.accept('op1', [line(6)]);
  assert.deepEqual(g.gap, { from: 4, to: 5 });
  assert.equal(t.lastSeq('other'), 0);
});
