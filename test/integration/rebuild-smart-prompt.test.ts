// The CLI's rollback prompt on its own (terminal streams stood in by PassThrough streams
// flagged as TTYs): when it asks, what "y" and anything else do, and when it stays quiet.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { OpInfo } from '../../protocol';
import { offersRollback, rollbackPrompt } from '../../agent/rebuildSmart/cliPrompt';

function failedAt(phase: string, extra: Record<string, unknown> = {}): OpInfo {
  return {
    id: 'op1',
    kind: 'rebuild-smart',
    params: {},
    state: 'failed',
    client: { name: 'cli', auth: 'cli:root' },
    startedAt: new Date().toISOString(),
    lastSeq: 10,
    agentVersion: 'test',
    result: { generationBefore: 7, phases: [{ name: 'prepare', status: 'done' }, { name: phase, status: 'failed' }], ...extra },
  };
}

function tty(answer: string) {
  const input = Object.assign(new PassThrough(), { isTTY: true });
  const output = Object.assign(new PassThrough(), { isTTY: true });
  let shown = '';
  output.on('data', (c) => (shown += c));
  setTimeout(() => input.write(answer), 20);
  return { io: { input, output }, shown: () => shown };
}

test('offered only for a failed rebuild or checks that was not rolled back, not for dry runs', () => {
  assert.equal(offersRollback(failedAt('rebuild')), true);
  assert.equal(offersRollback(failedAt('checks')), true);
  assert.equal(offersRollback(failedAt('upstream')), false);
  assert.equal(offersRollback(failedAt('checks', { rolledBack: true })), false);
  assert.equal(offersRollback(failedAt('checks', { dryRun: true })), false);
  assert.equal(offersRollback({ ...failedAt('checks'), state: 'cancelled' }), false);
});

test('"y" starts the rollback op; the question names the recorded generation', async () => {
  const t = tty('y\n');
  const calls: Record<string, unknown>[] = [];
  const followUp = async (params: Record<string, unknown>) => {
    calls.push(params);
    return { ...failedAt('rollback'), state: 'succeeded' as const };
  };
  const next = await rollbackPrompt(failedAt('checks'), followUp, t.io);
  assert.deepEqual(calls, [{ rollback: true }]);
  assert.equal(next?.state, 'succeeded');
  assert.match(t.shown(), /Roll back to the commit and generation 7 recorded before this run\? \[y\/N\]/);
});

test('anything else leaves the host as it is and says how to roll back later', async () => {
  const t = tty('\n');
  let called = false;
  const next = await rollbackPrompt(failedAt('rebuild'), async () => ((called = true), failedAt('x')), t.io);
  assert.equal(next, undefined);
  assert.equal(called, false);
  assert.match(t.shown(), /not rolled back; later: nixfleet-agent rebuild-smart --rollback/);
});

test('no terminal: no question at all', async () => {
  const input = new PassThrough();
  const output = new PassThrough();
  let shown = '';
  output.on('data', (c) => (shown += c));
  const next = await rollbackPrompt(failedAt('rebuild'), async () => failedAt('x'), { input, output });
  assert.equal(next, undefined);
  assert.equal(shown, '');
});
