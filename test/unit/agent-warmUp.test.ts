// The standby worker's rehearsal (agent/runner/warmUp.ts): it runs a worker's first steps on
// scratch files and leaves nothing behind, and a rehearsal that cannot run says so without
// throwing or creating anything.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { rehearseWorker } from '../../agent/runner/warmUp';

const root = mkdtempSync(path.join(tmpdir(), 'nixfleet-rehearsal-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('a rehearsal runs every step under its directory, then removes it', async () => {
  const dir = path.join(root, 'standby-a', 'rehearsal');
  const parent = path.dirname(dir);
  mkdirSync(parent);
  assert.equal(await rehearseWorker(dir), true);
  assert.equal(existsSync(dir), false, 'the scratch directory is gone');
  assert.deepEqual(readdirSync(parent), [], 'nothing else was written beside it');
});

test('a rehearsal that cannot start (its parent is gone, as when the standby was retired) fails quietly and creates nothing', async () => {
  const dir = path.join(root, 'retired', 'rehearsal');
  assert.equal(await rehearseWorker(dir), false);
  assert.equal(existsSync(path.join(root, 'retired')), false);
});

test('a rehearsal whose directory exists already does not run, and leaves that directory alone', async () => {
  const dir = path.join(root, 'taken');
  mkdirSync(dir);
  assert.equal(await rehearseWorker(dir), false);
  assert.equal(existsSync(dir), true);
});
