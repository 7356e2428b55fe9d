// runner/headStart.ts: an op's first command started before the worker's set-up, taken
// over by ctx.run, or stopped when the op never runs it. Real processes (sh).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { HeadStart } from '../../agent/runner/headStart';
import type { OutputStream } from '../../protocol';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const gone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
};

test('what the command printed before it was taken over comes first, in order, then the rest; the result is its own', async () => {
  const op = new AbortController();
  const ahead = new HeadStart({ argv: ['sh', '-c', 'echo one; echo two >&2; sleep 0.3; echo three'], opts: { capture: true } }, op.signal);
  await sleep(150);
  assert.equal(ahead.matches(['sh', '-c', 'echo other'], { capture: true }), false, 'another argv');
  assert.equal(ahead.matches(['sh', '-c', 'echo one; echo two >&2; sleep 0.3; echo three'], {}), false, 'run another way (not captured)');
  const argv = ['sh', '-c', 'echo one; echo two >&2; sleep 0.3; echo three'];
  assert.equal(ahead.matches(argv, { capture: true }), true);
  const lines: [OutputStream, string][] = [];
  const result = await ahead.take((s, t) => lines.push([s, t]));
  assert.deepEqual(lines, [
    ['stdout', 'one'],
    ['stderr', 'two'],
    ['stdout', 'three'],
  ]);
  assert.equal(result.exitCode, 0);
  assert.equal(result.stdout, 'one\nthree');
  assert.equal(ahead.matches(argv, { capture: true }), false, 'taken once');
  await ahead.discard(); // taken: nothing to stop
});

test('a command the op never runs is stopped, and gone, before discard resolves', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-headstart-'));
  try {
    const pidFile = path.join(dir, 'pid');
    const ahead = new HeadStart({ argv: ['sh', '-c', `echo $$ > '${pidFile}'; exec sleep 30`], opts: {} }, new AbortController().signal);
    let pid = 0;
    for (let i = 0; i < 100 && !pid; i++) {
      await sleep(20);
      pid = Number(readFileSync(pidFile, { encoding: 'utf8', flag: 'a+' }).trim() || 0);
    }
    assert.ok(pid > 0 && !gone(pid), 'it runs');
    const t = performance.now();
    await ahead.discard();
    assert.ok(performance.now() - t < 4000, 'stopped with SIGTERM, not after its 30 s');
    assert.ok(gone(pid), 'the process is gone');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the op's cancel stops it before or after it was taken, and the taker's own signal too", async () => {
  const op = new AbortController();
  const before = new HeadStart({ argv: ['sleep', '30'], opts: {} }, op.signal);
  op.abort();
  await assert.rejects(before.take(() => {}), /was cancelled/);

  const later = new HeadStart({ argv: ['sleep', '30'], opts: {} }, new AbortController().signal);
  const taker = new AbortController();
  const run = later.take(() => {}, taker.signal);
  taker.abort();
  await assert.rejects(run, /was cancelled/);
});
