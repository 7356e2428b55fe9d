// A failing rebuild or failing post checks, then rollback: the checkout back at the
// recorded commit and the profile back at the recorded generation (re-activated), both
// checked on disk. Also `rollback: true` (the CLI's --rollback) later, from the record.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { recordPath } from '../../agent/rebuildSmart/record';
import type { TestBed } from '../fixtures/testbed';
import { currentGenerationOf, git, phaseStatus, runSmart, sharedBed, upstream } from './rebuild-smart-fixtures';

let bed: TestBed;
sharedBed((b) => (bed = b));

const FAILING_CHECK = { healthChecks: [['sh', '-c', 'echo "nginx is down" >&2; exit 3']] };

test('failed post checks with rollbackOnFailure: commit and generation restored', async () => {
  const h = bed.host('h1');
  const commitBefore = await git(h.checkout, 'rev-parse', 'HEAD');
  const genBefore = currentGenerationOf(h.profile)!;
  await upstream(bed, (b) => b.setVersion('h1', '24.05.20'));
  writeFileSync(path.join(h.checkout, 'README.md'), 'my uncommitted edit\n');

  const r = await runSmart(bed, { rollbackOnFailure: true }, { config: FAILING_CHECK });
  assert.ok(r.error, 'the run failed');
  assert.match(r.error!.message, /failed at checks, rolled back: health check failed: sh -c .* exited with code 3: nginx is down/);
  const st = phaseStatus(r.outcome);
  assert.equal(st.rebuild, 'done');
  assert.equal(st.checks, 'failed');
  assert.equal(st.commit, 'not-run');
  assert.equal(st.rollback, 'done');
  assert.equal(r.outcome.rolledBack, true);
  assert.equal(r.outcome.checks, 'failed');

  // On disk: HEAD is the recorded commit again, the edit is still there, the profile is
  // back on the recorded generation and that system was re-activated last.
  assert.equal(await git(h.checkout, 'rev-parse', 'HEAD'), commitBefore);
  assert.equal(readFileSync(path.join(h.checkout, 'README.md'), 'utf8'), 'my uncommitted edit\n');
  const now = currentGenerationOf(h.profile)!;
  assert.equal(now.generation, genBefore.generation);
  assert.equal(now.path, genBefore.path);
  assert.deepEqual(bed.activations('h1').at(-1), { script: 'switch-to-configuration', storePath: genBefore.path, args: ['switch'] });
  // The failed generation exists but is not current.
  assert.ok(existsSync(`${h.profile}-${genBefore.generation + 1}-link`));
  assert.equal(await git(h.checkout, 'stash', 'list'), '');
  rmSync(path.join(h.checkout, 'README.md'));
});

test('failed activation with rollbackOnFailure: the rebased commit and the flake state are undone', async () => {
  const h = bed.host('h1');
  const commitBefore = await git(h.checkout, 'rev-parse', 'HEAD');
  const genBefore = currentGenerationOf(h.profile)!;
  bed.setFail('h1', true);
  try {
    const r = await runSmart(bed, { rollbackOnFailure: true });
    assert.ok(r.error);
    assert.equal(phaseStatus(r.outcome).rebuild, 'failed');
    assert.match(r.error!.message, /failed at rebuild, rolled back/);
    assert.equal(phaseStatus(r.outcome).rollback, 'done');
  } finally {
    bed.setFail('h1', false);
  }
  assert.equal(await git(h.checkout, 'rev-parse', 'HEAD'), commitBefore, 'upstream commit not kept after the failure');
  const now = currentGenerationOf(h.profile)!;
  assert.equal(now.generation, genBefore.generation);
  assert.equal(now.path, genBefore.path);
});

test('without rollbackOnFailure the failure says how to roll back; `rollback: true` does it later', async () => {
  const h = bed.host('h1');
  const commitBefore = await git(h.checkout, 'rev-parse', 'HEAD');
  const genBefore = currentGenerationOf(h.profile)!;
  const r = await runSmart(bed, {}, { config: FAILING_CHECK });
  assert.ok(r.error);
  assert.match(r.error!.message, /failed at checks: .*roll back with `nixfleet-agent rebuild-smart --rollback`/);
  const failedGen = currentGenerationOf(h.profile)!;
  assert.notEqual(failedGen.generation, genBefore.generation, 'left on the new generation');
  assert.equal(readFileSync(path.join(failedGen.path, 'nixos-version'), 'utf8'), '24.05.20');
  assert.notEqual(await git(h.checkout, 'rev-parse', 'HEAD'), commitBefore, 'upstream commit pulled in');

  const rb = await runSmart(bed, { rollback: true });
  assert.equal(rb.error, undefined, rb.error?.message + '\n' + rb.journal.text());
  assert.deepEqual(phaseStatus(rb.outcome), { rollback: 'done' });
  assert.equal(await git(h.checkout, 'rev-parse', 'HEAD'), commitBefore);
  const now = currentGenerationOf(h.profile)!;
  assert.equal(now.generation, genBefore.generation);
  assert.equal(now.path, genBefore.path);
  assert.equal(bed.activations('h1').at(-1)!.storePath, genBefore.path);
  const record = JSON.parse(readFileSync(recordPath(h.stateDir), 'utf8'));
  assert.equal(record.commit, commitBefore);
  assert.equal(record.generation, genBefore.generation);
  assert.ok(record.rolledBackAt, 'record marked as rolled back');
});

test('rollback with nothing recorded is refused with a clear message', async () => {
  const r = await runSmart(bed, { rollback: true }, { config: { stateDir: path.join(bed.root, 'empty-state') } });
  assert.ok(r.error);
  assert.match(r.error!.message, /no Rebuild Smart run is recorded in .*last-run\.json: there is nothing to roll back to/);
});

test('a run that changes nothing keeps the record of the last run that did, so --rollback still undoes it', async () => {
  const h = bed.host('h1');
  await git(h.checkout, 'pull', '-q', '--rebase');
  const commitBefore = await git(h.checkout, 'rev-parse', 'HEAD');
  const genBefore = currentGenerationOf(h.profile)!;
  await upstream(bed, (b) => b.setVersion('h1', '24.05.21'));
  const changing = await runSmart(bed, {});
  assert.equal(changing.error, undefined, changing.error?.message);
  const record = readFileSync(recordPath(h.stateDir), 'utf8');
  const noop = await runSmart(bed, {});
  assert.equal(noop.error, undefined, noop.error?.message);
  assert.match(noop.journal.info().find((l) => l.startsWith('now: '))!, /\(unchanged\).*\(unchanged\)/);
  assert.equal(readFileSync(recordPath(h.stateDir), 'utf8'), record, 'record of the changing run kept');
  const rb = await runSmart(bed, { rollback: true });
  assert.equal(rb.error, undefined, rb.error?.message);
  assert.equal(await git(h.checkout, 'rev-parse', 'HEAD'), commitBefore);
  assert.equal(currentGenerationOf(h.profile)!.path, genBefore.path);
});

test('rollbackOnCheckFailure in the agent config rolls back without the flag', async () => {
  const h = bed.host('h1');
  const commitBefore = await git(h.checkout, 'rev-parse', 'HEAD');
  const genBefore = currentGenerationOf(h.profile)!;
  await upstream(bed, (b) => b.setVersion('h1', '24.05.22'));
  const r = await runSmart(bed, {}, { config: { ...FAILING_CHECK, rollbackOnCheckFailure: true } });
  assert.ok(r.error);
  assert.equal(phaseStatus(r.outcome).rollback, 'done');
  assert.equal(await git(h.checkout, 'rev-parse', 'HEAD'), commitBefore);
  assert.equal(currentGenerationOf(h.profile)!.path, genBefore.path);
});
