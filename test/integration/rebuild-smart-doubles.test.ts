// The phases whose tools are not in Debian, with recording test doubles on PATH
// (test/fixtures/doubles: chezmoi, jj; nh from the test bed) while git and Nix stay real:
// chezmoi re-add + sync against a real dotfiles repo, jj-colocated upstream sync with a
// real conflict undone.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import type { TestBed } from '../fixtures/testbed';
import { currentGenerationOf, git, newBed, phaseStatus, runSmart, upstream, usePath } from './rebuild-smart-fixtures';

let bed: TestBed;
let home: string;
let src: string;
let dotOrigin: string;
const oldHome = process.env.HOME;

before(async () => {
  bed = await newBed();
  const first = await runSmart(bed, {});
  assert.equal(first.error, undefined, first.error?.message);
  // A chezmoi setup: bare dotfiles origin, the source dir cloned from it, ~/.bashrc managed.
  home = path.join(bed.root, 'home');
  dotOrigin = path.join(bed.root, 'dotfiles.git');
  src = path.join(home, '.local/share/chezmoi');
  mkdirSync(home, { recursive: true });
  await git(bed.root, 'init', '-q', '--bare', '--initial-branch=main', dotOrigin);
  const seed = path.join(bed.root, 'dotfiles-seed');
  await git(bed.root, 'clone', '-q', dotOrigin, seed);
  writeFileSync(path.join(seed, 'dot_bashrc'), 'export EDITOR=vi\n');
  await git(seed, 'add', '-A');
  await git(seed, 'commit', '-q', '-m', 'bashrc');
  await git(seed, 'push', '-q', 'origin', 'HEAD:main');
  await git(bed.root, 'clone', '-q', dotOrigin, src);
  writeFileSync(path.join(home, '.bashrc'), 'export EDITOR=vi\n');
  process.env.HOME = home;
});
after(async () => {
  process.env.HOME = oldHome;
  usePath(bed, {});
  await bed?.cleanup();
});
beforeEach(() => {
  writeFileSync(bed.doubleLog, '');
});

const calls = (tool: string) => bed.doubleCalls().filter((c) => c.tool === tool).map((c) => c.args.join(' '));

test('dotfiles: chezmoi re-add captures the local edit, commits, pulls, applies and pushes', async () => {
  usePath(bed, { chezmoi: true });
  // Local edit on the host; meanwhile another machine pushed a new dotfile.
  writeFileSync(path.join(home, '.bashrc'), 'export EDITOR=nvim\n');
  const other = path.join(bed.root, 'dotfiles-other');
  await git(bed.root, 'clone', '-q', dotOrigin, other);
  writeFileSync(path.join(other, 'dot_profile'), 'PATH=$HOME/bin:$PATH\n');
  await git(other, 'add', '-A');
  await git(other, 'commit', '-q', '-m', 'profile');
  await git(other, 'push', '-q', 'origin', 'HEAD:main');

  const r = await runSmart(bed, { autoCommit: false });
  assert.equal(r.error, undefined, r.error?.message + '\n' + r.journal.text());
  assert.equal(phaseStatus(r.outcome).dotfiles, 'done', r.journal.info().join('\n'));
  assert.match(r.journal.info().find((l) => l.startsWith('✓ dotfiles'))!, /re-added, committed 1 file\(s\), pulled, applied, pushed/);
  assert.deepEqual(calls('chezmoi'), ['re-add', 'apply --no-tty --force']);
  // Real effects: the source holds the edit, origin has it, the other machine's file is applied.
  assert.equal(readFileSync(path.join(src, 'dot_bashrc'), 'utf8'), 'export EDITOR=nvim\n');
  assert.equal(await git(dotOrigin, 'show', 'main:dot_bashrc'), 'export EDITOR=nvim');
  assert.match(await git(dotOrigin, 'log', '-1', '--format=%s', 'main'), /^chezmoi: re-add dotfile changes from h1 \(rebuild-smart\)$/);
  assert.equal(readFileSync(path.join(home, '.profile'), 'utf8'), 'PATH=$HOME/bin:$PATH\n');
});

test('dotfiles: a failing chezmoi is a warning and the rebuild goes on', async () => {
  usePath(bed, { chezmoi: true });
  process.env.CHEZMOI_DOUBLE_FAIL = '1';
  try {
    writeFileSync(path.join(bed.host('h1').checkout, 'hosts/h1/version'), '24.05.60\n');
    const r = await runSmart(bed, { autoCommit: false, autoPush: false });
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(phaseStatus(r.outcome).dotfiles, 'warning');
    assert.equal(phaseStatus(r.outcome).rebuild, 'done');
    assert.ok(r.journal.info().some((l) => /^⚠ dotfiles [0-9.]+s: .*chezmoi re-add exited with code 1.*continued with the local state/.test(l)));
    assert.ok((r.outcome.warnings as string[]).some((w) => w.startsWith('dotfiles: ')));
    assert.ok(r.journal.info().some((l) => /^⚠ Dotfiles +warning/.test(l)), 'warning in the summary table');
    assert.equal(readFileSync(path.join(currentGenerationOf(bed.host('h1').profile)!.path, 'nixos-version'), 'utf8'), '24.05.60');
  } finally {
    delete process.env.CHEZMOI_DOUBLE_FAIL;
    await git(bed.host('h1').checkout, 'checkout', '--', 'hosts/h1/version');
  }
});

test('dotfiles skipped with the reason: not installed, not set up, syncDotfiles off, --skip-dotfiles', async () => {
  usePath(bed, {});
  let r = await runSmart(bed, { autoCommit: false });
  assert.ok(r.journal.info().includes('⏭ dotfiles: skipped (chezmoi not installed)'));
  usePath(bed, { chezmoi: true });
  r = await runSmart(bed, { skipDotfiles: true, autoCommit: false });
  assert.ok(r.journal.info().includes('⏭ dotfiles: skipped (--skip-dotfiles)'));
  r = await runSmart(bed, { autoCommit: false }, { config: { syncDotfiles: false } });
  assert.ok(r.journal.info().includes('⏭ dotfiles: skipped (syncDotfiles is off in the agent config)'));
  process.env.HOME = path.join(bed.root, 'empty-home');
  mkdirSync(process.env.HOME, { recursive: true });
  try {
    r = await runSmart(bed, { autoCommit: false });
    assert.ok(r.journal.info().includes('⏭ dotfiles: skipped (chezmoi not set up: no source directory, run chezmoi init)'), r.journal.info().join('\n'));
    assert.deepEqual(calls('chezmoi'), ['source-path'], 'only asked where its source is');
  } finally {
    process.env.HOME = home;
  }
});

test('jj-colocated checkout: synced with jj git fetch / jj rebase, committed and pushed with jj', async () => {
  const h = bed.host('h1');
  usePath(bed, { jj: true });
  mkdirSync(path.join(h.checkout, '.jj'), { recursive: true });
  try {
    await git(h.checkout, 'pull', '-q', '--rebase');
    const up = await upstream(bed, (b) => b.setVersion('h1', '24.05.70'));
    writeFileSync(path.join(h.checkout, 'hosts/h1/packages.json'), JSON.stringify({ openssl: '3.0.5', hello: '2.12.1' }) + '\n');
    await git(h.checkout, 'commit', '-q', '-am', 'h1: openssl 3.0.5 (local)');
    writeFileSync(path.join(h.checkout, 'notes.md'), 'jj tracks new files too\n');

    const r = await runSmart(bed, {});
    assert.equal(r.error, undefined, r.error?.message + '\n' + r.journal.text());
    assert.equal(phaseStatus(r.outcome).upstream, 'done');
    const jj = calls('jj');
    assert.deepEqual(jj.slice(0, 3), [
      'git fetch --remote origin',
      'rebase --branch @ --destination main@origin',
      `log --no-graph --revisions (main@origin..@) & conflicts() --template change_id.short() ++ "\\n"`,
    ]);
    assert.ok(jj.some((c) => c.startsWith('commit --message h1: rebuild-smart generation')), jj.join('\n'));
    assert.ok(jj.includes('bookmark set main --revision @-'), jj.join('\n'));
    assert.ok(jj.includes('git push --remote origin --bookmark main'), jj.join('\n'));
    assert.ok(!bed.doubleCalls().some((c) => c.tool === 'git'), 'no plain git sync ran');
    // Real outcome (the double drives real git): upstream commit below the local one, pushed.
    assert.equal(await git(h.checkout, 'rev-parse', 'HEAD~2'), up);
    assert.equal(await git(bed.origin, 'rev-parse', 'main'), await git(h.checkout, 'rev-parse', 'HEAD'));
    assert.equal(await git(h.checkout, 'show', 'HEAD:notes.md'), 'jj tracks new files too');
    const gen = currentGenerationOf(h.profile)!;
    assert.equal(readFileSync(path.join(gen.path, 'nixos-version'), 'utf8'), '24.05.70');
    assert.ok(existsSync(path.join(gen.path, 'sw/openssl-3.0.5')));
  } finally {
    usePath(bed, {});
  }
});

test('jj-colocated checkout: a conflicting rebase is undone and the files are listed', async () => {
  const h = bed.host('h1');
  usePath(bed, { jj: true });
  try {
    await upstream(bed, (b) => b.setVersion('h1', '24.05.71'));
    writeFileSync(path.join(h.checkout, 'hosts/h1/version'), '24.05.71-local\n');
    await git(h.checkout, 'commit', '-q', '-am', 'h1: local version');
    const head = await git(h.checkout, 'rev-parse', 'HEAD');
    const r = await runSmart(bed, {});
    assert.ok(r.error);
    assert.match(r.error!.message, /rebasing onto main@origin conflicts in hosts\/h1\/version: the rebase was undone \(jj undo\), nothing was lost/);
    assert.ok(calls('jj').includes('undo'));
    assert.equal(await git(h.checkout, 'rev-parse', 'HEAD'), head);
    assert.equal(phaseStatus(r.outcome).rebuild, 'not-run');
  } finally {
    usePath(bed, {});
  }
});
