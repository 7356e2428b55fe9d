// Cancellation (the op's signal, as `op.cancel` or Ctrl-C delivers it) stops cleanly inside
// a phase or between phases and says what state things are in.
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { TestBed } from '../fixtures/testbed';
import { currentGenerationOf, git, phaseStatus, runSmart, sharedBed, upstream } from './rebuild-smart-fixtures';

let bed: TestBed;
sharedBed((b) => (bed = b));

test('cancel inside the rebuild (activation running): the recorded generation is put back', async () => {
  const h = bed.host('h1');
  const genBefore = currentGenerationOf(h.profile)!;
  writeFileSync(path.join(h.checkout, 'hosts/h1/version'), '24.05.80\n');
  // The new system's activation hangs until killed. The sleep must not hold the activation's
  // output pipes (runCommand kills the activation script, not its children): exec with its
  // output redirected.
  bed.setHook('h1', 'if [ "$NIXFLEET_TESTBED_STORE_PATH" != "' + genBefore.path + '" ]; then exec sleep 60 >/dev/null 2>&1 </dev/null; fi\n');
  const abort = new AbortController();
  try {
    const r = await runSmart(bed, {}, {
      signal: abort.signal,
      onLine: (t) => {
        if (t.startsWith('activating: ') && !t.includes(genBefore.path)) setTimeout(() => abort.abort(), 200);
      },
    });
    assert.ok(r.error, 'the run did not succeed');
    const st = phaseStatus(r.outcome);
    assert.equal(st.rebuild, 'cancelled');
    assert.equal(st.checks, 'not-run');
    assert.equal(st.commit, 'not-run');
    assert.match(r.error!.message, /was cancelled during rebuild; now: checkout .* \(unchanged\), 1 uncommitted change\(s\); generation [0-9]+ \(unchanged\)/);
    assert.ok(r.journal.info().some((l) => /^⊘ rebuild: cancelled after [0-9.]+s/.test(l)));
    assert.ok((r.outcome.warnings as string[]).some((w) => w.includes(`generation ${genBefore.generation} was restored and re-activated`)));
    // On disk: the profile is back on the recorded generation, which was activated last.
    const now = currentGenerationOf(h.profile)!;
    assert.equal(now.generation, genBefore.generation);
    assert.deepEqual(bed.activations('h1').at(-1), { script: 'switch-to-configuration', storePath: genBefore.path, args: ['switch'] });
  } finally {
    bed.setHook('h1', null);
    await git(h.checkout, 'checkout', '--', 'hosts/h1/version');
  }
});

test('cancel inside the upstream rebase: rebase aborted, uncommitted changes back, nothing else run', async () => {
  const h = bed.host('h1');
  await upstream(bed, (b) => b.setVersion('h1', '24.05.81'));
  writeFileSync(path.join(h.checkout, 'hosts/h1/packages.json'), JSON.stringify({ openssl: '3.0.9', hello: '2.12.1' }) + '\n');
  await git(h.checkout, 'commit', '-q', '-am', 'h1: local packages');
  writeFileSync(path.join(h.checkout, 'README.md'), 'uncommitted\n');
  const head = await git(h.checkout, 'rev-parse', 'HEAD');
  const gen = currentGenerationOf(h.profile)!;
  const hook = path.join(h.checkout, '.git/hooks/pre-rebase');
  writeFileSync(hook, '#!/bin/sh\nexec sleep 60 >/dev/null 2>&1 </dev/null\n');
  chmodSync(hook, 0o755);
  const abort = new AbortController();
  try {
    const r = await runSmart(bed, {}, {
      signal: abort.signal,
      onLine: (t) => {
        if (t.startsWith('$ git rebase ')) setTimeout(() => abort.abort(), 300);
      },
    });
    assert.ok(r.error);
    const st = phaseStatus(r.outcome);
    assert.equal(st.upstream, 'cancelled');
    assert.equal(st.rebuild, 'not-run');
    assert.match(r.error!.message, /cancelled during upstream; now: checkout .* at [0-9a-f]{7} \(unchanged\)/);
    assert.equal(await git(h.checkout, 'rev-parse', 'HEAD'), head);
    assert.equal(readFileSync(path.join(h.checkout, 'README.md'), 'utf8'), 'uncommitted\n');
    assert.equal(await git(h.checkout, 'stash', 'list'), '', 'stash popped back');
    assert.equal(currentGenerationOf(h.profile)!.generation, gen.generation);
  } finally {
    rmSync(hook, { force: true });
    rmSync(path.join(h.checkout, 'README.md'), { force: true });
  }
});

test('cancelled before it starts: every phase reported, nothing run', async () => {
  const abort = new AbortController();
  abort.abort();
  const r = await runSmart(bed, {}, { signal: abort.signal });
  assert.ok(r.error);
  const st = phaseStatus(r.outcome);
  assert.equal(st.prepare, 'cancelled');
  assert.equal(st.rebuild, 'not-run');
  assert.ok(r.journal.info().includes('⊘ prepare: cancelled before it started'));
  assert.ok(!r.journal.lines.some((l) => l.text.startsWith('$ ')), 'no command ran');
});
