// Secrets and flake update phases over real flake inputs (local git repos, so real Nix
// locks them offline): nix-secrets is updated on every run and committed on its own;
// --update updates every input and commits flake.lock with the changes listed. Also the
// sops post-check against the configuration's declared secrets.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { updateInputCommand } from '../fixtures/nixSpelling';
import type { TestBed } from '../fixtures/testbed';
import { git, newBed, phaseStatus, runSmart, upstream } from './rebuild-smart-fixtures';

let bed: TestBed;
let secretsRepo: string;
let extraRepo: string;
let secretFile: string;

async function inputRepo(name: string): Promise<string> {
  const dir = path.join(bed.root, name);
  mkdirSync(dir);
  await git(dir, 'init', '-q', '--initial-branch=main');
  writeFileSync(path.join(dir, 'data'), `${name} 1\n`);
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-q', '-m', `${name} 1`);
  return dir;
}

async function bump(dir: string, text: string): Promise<string> {
  writeFileSync(path.join(dir, 'data'), text + '\n');
  await git(dir, 'commit', '-q', '-am', text);
  return git(dir, 'rev-parse', 'HEAD');
}

function locked(checkout: string, input: string): string {
  const lock = JSON.parse(readFileSync(path.join(checkout, 'flake.lock'), 'utf8'));
  return lock.nodes[lock.nodes.root.inputs[input]].locked.rev;
}

before(async () => {
  bed = await newBed();
  secretsRepo = await inputRepo('secrets');
  extraRepo = await inputRepo('extra');
  secretFile = path.join(bed.root, 'run-secrets', 'db-password');
  // nixcfg gains two inputs and a declared sops secret, locked and pushed upstream.
  await upstream(bed, async (b) => {
    const flake = path.join(b.workstation, 'flake.nix');
    const text = readFileSync(flake, 'utf8')
      .replace(
        'outputs = { self }:',
        `inputs.nix-secrets = { url = "git+file://${secretsRepo}"; flake = false; };\n  inputs.extra = { url = "git+file://${extraRepo}"; flake = false; };\n  outputs = { self, ... }:`,
      )
      .replace(
        '"h1" = { config.system.build.toplevel = lib.mkSystem "nixos" "h1"; };',
        `"h1" = { config.system.build.toplevel = lib.mkSystem "nixos" "h1"; config.sops.secrets.db-password.path = "${secretFile}"; };`,
      );
    assert.ok(text.includes('nix-secrets') && text.includes('sops.secrets'), 'flake.nix rewritten');
    writeFileSync(flake, text);
    await git(b.workstation, 'add', 'flake.nix');
    await git(b.workstation, 'commit', '-q', '-m', 'inputs: nix-secrets, extra');
    await git(b.workstation, 'push', '-q', 'origin', 'main');
    const { execFileSync } = await import('node:child_process');
    execFileSync('nix', ['flake', 'lock'], { cwd: b.workstation, env: process.env, stdio: 'ignore' });
    return b.commit({}, 'lock inputs');
  });
  mkdirSync(path.dirname(secretFile), { recursive: true });
  writeFileSync(secretFile, 'hunter2\n');
  const first = await runSmart(bed, {});
  assert.equal(first.error, undefined, first.error?.message);
});
after(async () => {
  await bed?.cleanup();
});

test('nix-secrets is updated (spelled as the installed Nix wants) and flake.lock committed on its own, then pushed', async () => {
  const h = bed.host('h1');
  const extraBefore = locked(h.checkout, 'extra');
  const newSecrets = await bump(secretsRepo, 'secrets 2');
  await bump(extraRepo, 'extra 2');
  const r = await runSmart(bed, {});
  assert.equal(r.error, undefined, r.error?.message + '\n' + r.journal.text());
  assert.equal(phaseStatus(r.outcome).secrets, 'done');
  assert.equal(phaseStatus(r.outcome).update, 'skipped');
  assert.ok(r.journal.text().includes(`$ ${updateInputCommand('nix-secrets')}`), `the journal shows "$ ${updateInputCommand('nix-secrets')}"`);
  assert.equal(locked(h.checkout, 'nix-secrets'), newSecrets);
  assert.equal(locked(h.checkout, 'extra'), extraBefore, 'other inputs untouched without --update');
  const msg = await git(h.checkout, 'log', '-1', '--format=%B', '--', 'flake.lock');
  assert.match(msg, /^flake\.lock: update nix-secrets\n\nOn h1 by rebuild-smart \(op [^)]+\):\n  nix-secrets: [0-9a-f]{7} → [0-9a-f]{7}/);
  assert.deepEqual((await git(h.checkout, 'show', '--name-only', '--format=', 'HEAD')).split('\n'), ['flake.lock']);
  assert.equal(await git(bed.origin, 'rev-parse', 'main'), await git(h.checkout, 'rev-parse', 'HEAD'), 'pushed');
  assert.deepEqual(r.outcome.lockChanges, [`nix-secrets: ${msg.match(/nix-secrets: ([0-9a-f]{7})/)![1]} → ${newSecrets.slice(0, 7)}`]);
});

test('--update updates every input and commits flake.lock listing what moved', async () => {
  const h = bed.host('h1');
  const newExtra = await bump(extraRepo, 'extra 3');
  const r = await runSmart(bed, { update: true });
  assert.equal(r.error, undefined, r.error?.message);
  assert.equal(phaseStatus(r.outcome).update, 'done');
  assert.equal(locked(h.checkout, 'extra'), newExtra);
  const msg = await git(h.checkout, 'log', '-1', '--format=%B', '--', 'flake.lock');
  assert.match(msg, /^flake\.lock: update all inputs\n/);
  assert.match(msg, /\n  extra: [0-9a-f]{7} → [0-9a-f]{7}$/m);
  assert.match(r.journal.info().find((l) => l.startsWith('✓ update'))!, /extra: [0-9a-f]{7} → [0-9a-f]{7}; committed [0-9a-f]{7}/);
});

test('--skip-update wins over updateBeforeRebuild; secrets already current is reported as such', async () => {
  const h = bed.host('h1');
  const extraBefore = locked(h.checkout, 'extra');
  await bump(extraRepo, 'extra 4');
  const r = await runSmart(bed, { skipUpdate: true }, { config: { updateBeforeRebuild: true } });
  assert.equal(r.error, undefined, r.error?.message);
  assert.equal(phaseStatus(r.outcome).update, 'skipped');
  assert.equal(locked(h.checkout, 'extra'), extraBefore);
  assert.match(r.journal.info().find((l) => l.startsWith('✓ secrets'))!, /nix-secrets: already up to date/);
});

test('post checks: a declared sops secret that is missing fails the run', async () => {
  rmSync(secretFile);
  try {
    const r = await runSmart(bed, {});
    assert.ok(r.error);
    assert.equal(phaseStatus(r.outcome).checks, 'failed');
    assert.match(r.error!.message, new RegExp(`sops secrets missing: db-password \\(${secretFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\)`));
  } finally {
    writeFileSync(secretFile, 'hunter2\n');
  }
  const ok = await runSmart(bed, {});
  assert.equal(ok.error, undefined, ok.error?.message);
  assert.match(ok.journal.info().find((l) => l.startsWith('✓ checks'))!, /1 sops secret\(s\) present/);
});
