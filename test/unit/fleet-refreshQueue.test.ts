import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RefreshQueue } from '../../src/fleet/refreshQueue';

test('refreshes are batched: a burst becomes one run with the union of hosts', async () => {
  const runs: Array<string[] | 'all'> = [];
  const q = new RefreshQueue<string>(async (keys) => {
    runs.push(keys === 'all' ? 'all' : [...keys].sort());
  }, 20);
  await Promise.all([q.queue('h2'), q.queue('h1'), q.queue('h2')]);
  assert.deepEqual(runs, [['h1', 'h2']]);
  await Promise.all([q.queue('h1'), q.queue()]);
  assert.deepEqual(runs[1], 'all');
  q.dispose();
});

test('a request during a run schedules exactly one more run, and waiters resolve after it', async () => {
  const runs: string[][] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const q = new RefreshQueue<string>(async (keys) => {
    runs.push(keys === 'all' ? ['all'] : [...keys]);
    if (runs.length === 1) await gate;
  }, 5);
  const first = q.queue('h1');
  await new Promise((r) => setTimeout(r, 30));
  const second = Promise.all([q.queue('h2'), q.queue('h3')]);
  release();
  await first;
  await second;
  assert.deepEqual(runs, [['h1'], ['h2', 'h3']]);
  q.dispose();
});
