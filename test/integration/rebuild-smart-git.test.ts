// Rebuild Smart over real git and real Nix: upstream has new commits, the host's checkout
// has local commits and uncommitted changes; a real conflict stops with nothing lost.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { TestBed } from '../fixtures/testbed';
import { currentGenerationOf, git, gitRaw, newBed, phaseStatus, runSmart, upstream, usePath } from './rebuild-smart-fixtures';

let bed: TestBed;
before(async () => {
  bed = await newBed();
});
after(async () => {
  await bed?.cleanup();
});

test('rebases local commits onto upstream, keeps uncommitted changes, rebuilds, commits and pushes', async () => {
  const h = bed.host('h1');
  // First run: a generation to start from.
  const first = await runSmart(bed, {});
  assert.equal(first.error, undefined, first.error?.message);
  const gen1 = currentGenerationOf(h.profile)!;
  assert.ok(gen1, 'the first run made a generation');

  // Upstream moves on (version), the host has a local commit (packages) and an uncommitted edit (a note).
  await upstream(bed, (b) => b.setVersion('h1', '24.05.7'));
  writeFileSync(path.join(h.checkout, 'hosts/h1/packages.json'), JSON.stringify({ openssl: '3.0.3', hello: '2.12.1' }) + '\n');
  await git(h.checkout, 'commit', '-q', '-am', 'h1: openssl 3.0.3 (local)');
  const localCommitMsg = await git(h.checkout, 'log', '-1', '--format=%s');
  writeFileSync(path.join(h.checkout, 'README.md'), 'uncommitted note\n');
  await git(h.checkout, 'add', 'README.md');
  writeFileSync(path.join(h.checkout, 'scratch.txt'), 'untracked\n');

  const r = await runSmart(bed, {});
  assert.equal(r.error, undefined, r.error?.message + '\n' + r.journal.text());
  const st = phaseStatus(r.outcome);
  assert.deepEqual(
    [st.prepare, st.upstream, st.dotfiles, st.secrets, st.update, st.rebuild, st.checks, st.commit],
    ['done', 'done', 'skipped', 'skipped', 'skipped', 'done', 'done', 'done'],
  );
  const info = r.journal.info();
  assert.ok(info.includes('⏳ upstream: running'), 'live running line');
  assert.ok(info.some((l) => /^✓ upstream [0-9.]+s: rebased 1 local commit\(s\) onto origin\/main/.test(l)), info.join('\n'));
  assert.ok(info.includes('⏭ dotfiles: skipped (chezmoi not installed)'));
  assert.ok(info.some((l) => l.startsWith('Rebuild Smart on h1: succeeded')), 'summary heading');

  // On disk: the new generation has upstream's version and the local package change.
  const gen2 = currentGenerationOf(h.profile)!;
  assert.equal(gen2.generation, gen1.generation + 1);
  assert.equal(readFileSync(path.join(gen2.path, 'nixos-version'), 'utf8'), '24.05.7');
  assert.ok(existsSync(path.join(gen2.path, 'sw/openssl-3.0.3')), 'local commit built');
  assert.ok((r.outcome.closureDiff as string[]).includes('openssl: 3.0.2 → 3.0.3'), String(r.outcome.closureDiff));
  assert.ok(r.journal.info().includes('  openssl: 3.0.2 → 3.0.3'), 'closure diff in the journal');

  // History: upstream commit, then the rebased local commit, then the host commit with the README.
  const log = (await git(h.checkout, 'log', '--format=%s', '-3')).split('\n');
  assert.equal(log[1], localCommitMsg);
  assert.equal(log[2], 'h1: version 24.05.7');
  assert.match(log[0]!, /^h1: rebuild-smart generation [0-9]+$/);
  assert.equal(await git(h.checkout, 'show', 'HEAD:README.md'), 'uncommitted note');
  // Untracked file untouched and not committed; pushed to origin.
  assert.equal(readFileSync(path.join(h.checkout, 'scratch.txt'), 'utf8'), 'untracked\n');
  assert.equal(await git(bed.origin, 'rev-parse', 'main'), await git(h.checkout, 'rev-parse', 'HEAD'));
  assert.equal(await git(h.checkout, 'stash', 'list'), '', 'no stash left behind');
  assert.ok((r.outcome.warnings as string[]).some((w) => w.includes('scratch.txt')), 'untracked file warned about');
});

test('a real conflict stops the run with the files listed and nothing lost', async () => {
  const h = bed.host('h1');
  await git(h.checkout, 'pull', '-q', '--rebase');
  const gen = currentGenerationOf(h.profile)!;
  await upstream(bed, (b) => b.setVersion('h1', '24.05.8'));
  writeFileSync(path.join(h.checkout, 'hosts/h1/version'), '24.05.99-local\n');
  await git(h.checkout, 'commit', '-q', '-am', 'h1: local version');
  const head = await git(h.checkout, 'rev-parse', 'HEAD');
  writeFileSync(path.join(h.checkout, 'lib/notes.txt'), 'work in progress\n');
  await git(h.checkout, 'add', 'lib/notes.txt');
  writeFileSync(path.join(h.checkout, 'README.md'), 'edited, not staged\n');

  const r = await runSmart(bed, {});
  assert.ok(r.error, 'the run failed');
  assert.match(r.error!.message, /conflicts in hosts\/h1\/version/);
  assert.match(r.error!.message, /rebase was aborted/);
  const st = phaseStatus(r.outcome);
  assert.equal(st.upstream, 'failed');
  assert.equal(st.rebuild, 'not-run');
  assert.ok(r.journal.info().some((l) => l.startsWith('✗ upstream: ') && l.includes('hosts/h1/version')));

  // Nothing lost: same HEAD, local commit there, no rebase in progress, both edits in place, no stash.
  assert.equal(await git(h.checkout, 'rev-parse', 'HEAD'), head);
  assert.equal(await git(h.checkout, 'log', '-1', '--format=%s'), 'h1: local version');
  assert.ok(!existsSync(path.join(h.checkout, '.git/rebase-merge')) && !existsSync(path.join(h.checkout, '.git/rebase-apply')));
  assert.equal(readFileSync(path.join(h.checkout, 'lib/notes.txt'), 'utf8'), 'work in progress\n');
  assert.equal(readFileSync(path.join(h.checkout, 'README.md'), 'utf8'), 'edited, not staged\n');
  const status = await gitRaw(h.checkout, 'status', '--porcelain');
  assert.match(status, /^A  lib\/notes.txt$/m, 'staged file still staged');
  assert.match(status, /^ M README.md$/m, 'unstaged edit still unstaged');
  assert.equal(await git(h.checkout, 'stash', 'list'), '');
  assert.equal(currentGenerationOf(h.profile)!.generation, gen.generation, 'no rebuild happened');
  // Clean up for the next test: drop the local commit and edits.
  await git(h.checkout, 'reset', '-q', '--hard', 'origin/main');
});

test('uncommitted changes in files upstream changed: refused, nothing touched', async () => {
  const h = bed.host('h1');
  await git(h.checkout, 'pull', '-q', '--rebase');
  await upstream(bed, (b) => b.setPackages('h1', { openssl: '3.0.4', hello: '2.12.1' }));
  writeFileSync(path.join(h.checkout, 'hosts/h1/packages.json'), '{"openssl":"9.9.9","hello":"2.12.1"}\n');
  const head = await git(h.checkout, 'rev-parse', 'HEAD');
  const r = await runSmart(bed, {});
  assert.ok(r.error);
  assert.match(r.error!.message, /changed hosts\/h1\/packages.json, which you have uncommitted changes in: nothing was changed/);
  assert.equal(await git(h.checkout, 'rev-parse', 'HEAD'), head);
  assert.equal(readFileSync(path.join(h.checkout, 'hosts/h1/packages.json'), 'utf8'), '{"openssl":"9.9.9","hello":"2.12.1"}\n');
  await git(h.checkout, 'checkout', '--', 'hosts/h1/packages.json');
});

test('with nh on PATH the rebuild is `nh os switch FLAKE --hostname HOST`', async () => {
  const h = bed.host('h1');
  usePath(bed, { nh: true });
  try {
    await git(h.checkout, 'pull', '-q', '--rebase');
    writeFileSync(path.join(h.checkout, 'hosts/h1/version'), '24.05.50\n');
    const genBefore = currentGenerationOf(h.profile)!;
    const r = await runSmart(bed, { skipUpstream: true, autoCommit: false, autoPush: false });
    assert.equal(r.error, undefined, r.error?.message);
    const calls = bed.doubleCalls().filter((c) => c.tool === 'nh');
    assert.deepEqual(calls.at(-1)!.args, ['os', 'switch', h.checkout, '--hostname', 'h1']);
    const now = currentGenerationOf(h.profile)!;
    assert.ok(now.generation > genBefore.generation, 'nh (real Nix underneath) made a new generation');
    assert.equal(readFileSync(path.join(now.path, 'nixos-version'), 'utf8'), '24.05.50');
    assert.deepEqual(bed.activations('h1').at(-1), { script: 'switch-to-configuration', storePath: now.path, args: ['switch'] });
    assert.match(r.journal.info().find((l) => l.startsWith('✓ rebuild'))!, /\(nh\)$/);
  } finally {
    usePath(bed, {});
    await git(h.checkout, 'checkout', '--', 'hosts/h1/version');
  }
});
