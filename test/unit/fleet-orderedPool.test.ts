// The pool the host refresh runs in: a few keys at a time, the first in the given order first,
// a key asked for twice while waiting runs once, a key never runs twice at the same time, and a
// run that gives its place up (or holds it too long) lets the next key start.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OrderedPool } from '../../src/fleet/orderedPool';

/** Work whose runs end when the test says so, recording starts and the most running at once. */
function gatedWork() {
  const started: string[] = [];
  const gates = new Map<string, Array<() => void>>();
  let running = 0;
  let most = 0;
  const work = (key: string, release: () => void) => {
    started.push(key);
    running++;
    most = Math.max(most, running);
    return new Promise<void>((resolve) => {
      const list = gates.get(key) ?? [];
      list.push(() => {
        running--;
        resolve();
      });
      gates.set(key, list);
      releases.set(key, release);
    });
  };
  const releases = new Map<string, () => void>();
  const finish = (key: string) => {
    const end = gates.get(key)?.shift();
    assert.ok(end, `${key} is not running`);
    end();
  };
  return { work, started, finish, releases, most: () => most, running: () => running };
}

const tick = () => new Promise((r) => setImmediate(r));

test('at most atOnce keys run, the waiting ones start in the given order as places free', async () => {
  const w = gatedWork();
  const pool = new OrderedPool<string>({ atOnce: 2, slotMs: 60_000, order: (a, b) => a.localeCompare(b), work: w.work });
  const done = ['e', 'c', 'a', 'd', 'b'].map((k) => pool.run(k));
  // e and c asked first take the two places; the rest wait and go in order: a, b, d.
  assert.deepEqual(w.started, ['e', 'c']);
  w.finish('c');
  await tick();
  assert.deepEqual(w.started, ['e', 'c', 'a']);
  w.finish('e');
  await tick();
  w.finish('a');
  await tick();
  assert.deepEqual(w.started, ['e', 'c', 'a', 'b', 'd']);
  w.finish('b');
  w.finish('d');
  await Promise.all(done);
  assert.equal(w.most(), 2);
  pool.dispose();
});

test('keys asked for together start in the given order, whatever order they were asked in', async () => {
  const w = gatedWork();
  const pool = new OrderedPool<string>({ atOnce: 2, slotMs: 60_000, order: (a, b) => a.localeCompare(b), work: w.work });
  const done = pool.runAll(['e', 'c', 'a', 'd', 'b']);
  assert.deepEqual(w.started, ['a', 'b']);
  for (const k of ['a', 'b', 'c', 'd']) {
    w.finish(k);
    await tick();
  }
  w.finish('e');
  await done;
  assert.deepEqual(w.started, ['a', 'b', 'c', 'd', 'e']);
  pool.dispose();
});

test('a key asked for again while waiting runs once; asked for while running, it runs again after, never beside itself', async () => {
  const w = gatedWork();
  const pool = new OrderedPool<string>({ atOnce: 3, slotMs: 60_000, order: (a, b) => a.localeCompare(b), work: w.work });
  const first = pool.run('a');
  const again = pool.run('a');
  // A free place, but 'a' is running: the second request waits for the first run to end.
  const b = pool.run('b');
  const third = pool.run('a');
  assert.deepEqual(w.started, ['a', 'b']);
  w.finish('a');
  await first;
  await tick();
  assert.deepEqual(w.started, ['a', 'b', 'a'], 'asked for while running: one more run, after the first');
  let againDone = false;
  void again.then(() => (againDone = true));
  await tick();
  assert.equal(againDone, false, 'a request made during a run resolves after a run that started after it');
  w.finish('a');
  await Promise.all([again, third]);
  w.finish('b');
  await b;
  assert.deepEqual(w.started, ['a', 'b', 'a']);
  pool.dispose();
});

test('a run that gives its place up, or holds it longer than slotMs, lets the next key start', async () => {
  const w = gatedWork();
  const pool = new OrderedPool<string>({ atOnce: 1, slotMs: 60_000, order: (a, b) => a.localeCompare(b), work: w.work });
  void pool.run('a');
  void pool.run('b');
  assert.deepEqual(w.started, ['a']);
  w.releases.get('a')!();
  w.releases.get('a')!(); // twice: still one place given back
  assert.deepEqual(w.started, ['a', 'b']);
  void pool.run('c');
  assert.deepEqual(w.started, ['a', 'b'], 'b holds the one place');
  pool.dispose();

  // A run that never ends: after slotMs the next key starts anyway.
  const h = gatedWork();
  const slow = new OrderedPool<string>({ atOnce: 1, slotMs: 5, order: (a, b) => a.localeCompare(b), work: h.work });
  void slow.run('hung');
  const next = slow.run('next');
  assert.deepEqual(h.started, ['hung']);
  for (let i = 0; i < 400 && h.started.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(h.started, ['hung', 'next']);
  h.finish('next');
  await next;
  slow.dispose();
});

test('the order is read when a place frees, and dispose resolves every waiting request', async () => {
  const w = gatedWork();
  const rank = new Map([['x', 3], ['y', 2], ['z', 1]]);
  const pool = new OrderedPool<string>({ atOnce: 1, slotMs: 60_000, order: (a, b) => rank.get(a)! - rank.get(b)!, work: w.work });
  void pool.run('first');
  const waiting = ['x', 'y', 'z'].map((k) => pool.run(k));
  rank.set('x', 0); // x moved to the top of the view while it waited
  w.finish('first');
  await tick();
  assert.deepEqual(w.started, ['first', 'x']);
  pool.dispose();
  await Promise.all(waiting.slice(1));
  assert.deepEqual(w.started, ['first', 'x'], 'nothing starts after dispose');
});
