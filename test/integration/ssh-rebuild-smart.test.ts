// Rebuild Smart with everything remote behind a real sshd on 127.0.0.1: the nixcfg
// origin (reachability check, upstream fetch, push) and the nix-secrets flake input
// (git+ssh, fetched by Nix's own git). The host's ssh command is the user's
// (core.sshCommand, a config without BatchMode); the agent adds BatchMode everywhere, so
// an unknown host key turns into "offline" with the fix named, quickly, and the rebuild
// still runs on local state.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { TestBed } from '../fixtures/testbed';
import { startSshd, type SshServer } from '../fixtures/sshd';
import { git, newBed, phaseStatus, runSmart, upstream } from './rebuild-smart-fixtures';

let bed: TestBed;
let sshd: SshServer;
let secretsRepo: string;
let doubleDir: string;
let sshLog: string;

function lockedRev(checkout: string, input: string): string {
  const lock = JSON.parse(readFileSync(path.join(checkout, 'flake.lock'), 'utf8'));
  return lock.nodes[lock.nodes.root.inputs[input]].locked.rev;
}

async function bumpSecrets(text: string): Promise<string> {
  writeFileSync(path.join(secretsRepo, 'data'), text + '\n');
  await git(secretsRepo, 'commit', '-q', '-am', text);
  return git(secretsRepo, 'rev-parse', 'HEAD');
}

async function useSshConfig(knownHosts: boolean): Promise<void> {
  const config = sshd.clientConfig({ knownHosts, batchMode: false });
  await git(bed.host('h1').checkout, 'config', 'core.sshCommand', `${path.join(doubleDir, 'ssh')} -F ${config}`);
  writeFileSync(sshLog, '');
}

before(async () => {
  bed = await newBed();
  sshd = await startSshd();
  const base = `ssh://${sshd.user}@127.0.0.1:${sshd.port}`;
  doubleDir = mkdtempSync(path.join(tmpdir(), 'nixfleet-ssh-double-'));
  sshLog = path.join(doubleDir, 'ssh.log');
  writeFileSync(sshLog, '');
  // A recording test double named ssh in front of the real client: logs the options, runs ssh.
  writeFileSync(path.join(doubleDir, 'ssh'), `#!/bin/sh\necho "$*" >> ${sshLog}\nexec /usr/bin/ssh "$@"\n`);
  chmodSync(path.join(doubleDir, 'ssh'), 0o755);

  secretsRepo = path.join(bed.root, 'secrets');
  mkdirSync(secretsRepo);
  await git(secretsRepo, 'init', '-q', '--initial-branch=main');
  writeFileSync(path.join(secretsRepo, 'data'), 'secrets 1\n');
  await git(secretsRepo, 'add', '-A');
  await git(secretsRepo, 'commit', '-q', '-m', 'secrets 1');
  // The workstation locks the input over ssh too, with the fixture's own client config.
  await upstream(bed, async (b) => {
    const flake = path.join(b.workstation, 'flake.nix');
    const text = readFileSync(flake, 'utf8').replace(
      'outputs = { self }:',
      `inputs.nix-secrets = { url = "git+${base}${secretsRepo}?ref=main"; flake = false; };\n  outputs = { self, ... }:`,
    );
    assert.ok(text.includes('nix-secrets'), 'flake.nix rewritten');
    writeFileSync(flake, text);
    await git(b.workstation, 'add', 'flake.nix');
    await git(b.workstation, 'commit', '-q', '-m', 'inputs: nix-secrets over ssh');
    execFileSync('nix', ['flake', 'lock'], { cwd: b.workstation, env: { ...process.env, GIT_SSH_COMMAND: sshd.sshCommand().join(' ') }, stdio: 'ignore', timeout: 60_000 });
    return b.commit({}, 'lock inputs');
  });
  const checkout = bed.host('h1').checkout;
  await git(checkout, 'remote', 'set-url', 'origin', `${base}${bed.origin}`);
  await useSshConfig(true);
});
after(async () => {
  await sshd?.stop();
  await bed?.cleanup();
  if (doubleDir) rmSync(doubleDir, { recursive: true, force: true });
});

test('with the host key known: upstream sync, the nix-secrets update and the push all go over ssh in BatchMode', async () => {
  const h = bed.host('h1');
  const newSecrets = await bumpSecrets('secrets 2');
  const upstreamRev = await upstream(bed, (b) => b.setVersion('h1', '24.05.6'));
  const r = await runSmart(bed, {});
  assert.equal(r.error, undefined, r.error?.message + '\n' + r.journal.text());
  const st = phaseStatus(r.outcome);
  assert.equal(st.upstream, 'done', r.journal.text());
  assert.equal(st.secrets, 'done', r.journal.text());
  assert.equal(lockedRev(h.checkout, 'nix-secrets'), newSecrets, 'Nix fetched the new secrets over ssh');
  assert.equal(await git(h.checkout, 'merge-base', '--is-ancestor', upstreamRev, 'HEAD').then(() => true), true);
  // The lock commit was pushed to origin over ssh.
  assert.equal(await git(bed.origin, 'rev-parse', 'main'), await git(h.checkout, 'rev-parse', 'HEAD'));
  const calls = readFileSync(sshLog, 'utf8').trim().split('\n');
  assert.ok(calls.length >= 4, `ls-remote, fetch, Nix's fetch and push all ran ssh: ${calls.join(' | ')}`);
  for (const c of calls) assert.match(c, /-o BatchMode=yes -o ConnectTimeout=20/, c);
  assert.ok(calls.some((c) => c.includes(secretsRepo)), "Nix's git fetch of the input used the agent's ssh command");
});

test('with the host key unknown: offline at once with the fix named, the rebuild still runs on local state', async () => {
  await useSshConfig(false);
  await bumpSecrets('secrets 3');
  const h = bed.host('h1');
  const before = lockedRev(h.checkout, 'nix-secrets');
  const started = Date.now();
  const r = await runSmart(bed, {});
  const took = Date.now() - started;
  assert.equal(r.error, undefined, r.error?.message + '\n' + r.journal.text());
  const st = phaseStatus(r.outcome);
  assert.equal(st.upstream, 'skipped');
  assert.equal(st.secrets, 'skipped');
  assert.equal(st.rebuild, 'done');
  const text = r.journal.text();
  assert.match(text, /offline \(the ssh host key of remote "origin" \(ssh:\/\/.*\) is not in .*known_hosts and git runs without prompts \(BatchMode\); .*ssh-keyscan -p \d+ 127\.0\.0\.1/);
  assert.equal(lockedRev(h.checkout, 'nix-secrets'), before);
  assert.ok(took < 60_000, `took ${took} ms`);
  assert.match(readFileSync(sshLog, 'utf8'), /BatchMode=yes/);
});
