// runner/watch.ts: an op's end is announced once its record is final and its worker said it
// finished what follows (audit record, host lock), or the worker is gone; never between the
// final record and those, while the worker runs. Real files, real processes (sh).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { OpInfo } from '../../protocol';
import { createOpDir, writeOpInfo } from '../../agent/journal/opStore';
import { finishedFile } from '../../agent/journal/paths';
import { processStartTime } from '../../agent/runner/process';
import { writeWorker } from '../../agent/runner/request';
import { OpWatch } from '../../agent/runner/watch';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function opRecord(id: string, state: OpInfo['state']): OpInfo {
  return { id, kind: 'switch', params: {}, state, client: { name: 't', auth: 'token' }, startedAt: new Date().toISOString(), lastSeq: 0, agentVersion: 'x', ...(state === 'running' ? {} : { endedAt: new Date().toISOString(), exit: 0, result: {} }) };
}

/** A state dir with op `id` running in a live process (sh sleeping), and a watch on it that records its end. */
async function watched(id: string) {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'nixfleet-watch-'));
  dirs.push(stateDir);
  createOpDir(stateDir, id);
  writeOpInfo(stateDir, opRecord(id, 'running'));
  const worker = spawn('sh', ['-c', 'sleep 30'], { stdio: 'ignore' });
  await new Promise((r) => worker.once('spawn', r));
  writeWorker(stateDir, id, { pid: worker.pid!, startTime: processStartTime(worker.pid!) });
  const ended: OpInfo[] = [];
  const watch = new OpWatch(stateDir, { skip: () => false, ended: (i) => ended.push(i), awaitsConfirmation: () => {}, died: () => assert.fail('not dead') });
  watch.watch(id);
  return { stateDir, worker, ended, watch };
}

test('a final record alone is not the end while the worker runs; its `finished` file is', async () => {
  const { stateDir, worker, ended, watch } = await watched('w1');
  try {
    writeOpInfo(stateDir, opRecord('w1', 'succeeded'));
    await sleep(450); // past two polls and the directory's events
    assert.equal(ended.length, 0, 'not announced before the worker finished');
    const t = performance.now();
    writeFileSync(finishedFile(stateDir, 'w1'), '');
    while (!ended.length && performance.now() - t < 2000) await sleep(2);
    assert.equal(ended.length, 1);
    assert.equal(ended[0]!.state, 'succeeded');
  } finally {
    watch.close();
    worker.kill('SIGKILL');
  }
});

test('a worker gone after its final record without `finished` (killed, an older agent): the end is announced', async () => {
  const { stateDir, worker, ended, watch } = await watched('w2');
  try {
    writeOpInfo(stateDir, opRecord('w2', 'failed'));
    await sleep(250);
    assert.equal(ended.length, 0);
    worker.kill('SIGKILL');
    await new Promise((r) => worker.once('exit', r));
    watch.check('w2');
    assert.equal(ended.length, 1);
    assert.equal(ended[0]!.state, 'failed');
  } finally {
    watch.close();
  }
});
