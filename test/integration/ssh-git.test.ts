// git over ssh never prompts: the host's nixcfg remote is the bed's bare origin served
// through a real sshd on 127.0.0.1. The user's own ssh command (core.sshCommand, here a
// config WITHOUT BatchMode, as users write it) is kept and the agent adds BatchMode and
// ConnectTimeout. An unknown host key fails at once with which remote and what to do (the
// agent's pull, its CLI, and Rebuild Smart's upstream fetch); with the key known it works.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { pullCheckout } from '../../agent/git/sync';
import { batchSshCommand } from '../../agent/git/env';
import { Steps } from '../../agent/rebuildSmart/steps';
import { createTestBed, testOpContext, type TestBed } from '../fixtures/testbed';
import { startSshd, type SshServer } from '../fixtures/sshd';
import { cli } from './agent-harness';

const execFileP = promisify(execFile);
const git = async (cwd: string, ...args: string[]) => (await execFileP('git', args, { cwd })).stdout.trim();

let bed: TestBed;
let sshd: SshServer;
let doubleDir: string;
let sshLog: string;
let checkout: string;
let url: string;

before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  sshd = await startSshd();
  checkout = bed.host('h1').checkout;
  url = `ssh://${sshd.user}@127.0.0.1:${sshd.port}${bed.origin}`;
  await git(checkout, 'remote', 'set-url', 'origin', url);
  // A recording test double named ssh in front of the real /usr/bin/ssh: it logs the
  // options the agent passed, then runs the real client.
  doubleDir = mkdtempSync(path.join(tmpdir(), 'nixfleet-ssh-double-'));
  sshLog = path.join(doubleDir, 'ssh.log');
  writeFileSync(sshLog, '');
  writeFileSync(path.join(doubleDir, 'ssh'), `#!/bin/sh\necho "$*" >> ${sshLog}\nexec /usr/bin/ssh "$@"\n`);
  chmodSync(path.join(doubleDir, 'ssh'), 0o755);
});
after(async () => {
  await sshd?.stop();
  await bed?.cleanup();
  if (doubleDir) rmSync(doubleDir, { recursive: true, force: true });
});

/** Point the checkout's core.sshCommand at a user-style ssh config (no BatchMode in it). */
async function useSshConfig(knownHosts: boolean): Promise<void> {
  const config = sshd.clientConfig({ knownHosts, batchMode: false });
  await git(checkout, 'config', 'core.sshCommand', `${path.join(doubleDir, 'ssh')} -F ${config}`);
  writeFileSync(sshLog, '');
}

const ctxOf = (log: string[] = []) => ({ host: 'h1', log: (_s: string, t: string) => void log.push(t) });

describe('git over ssh without prompts', () => {
  test('the ssh command keeps the user\'s and adds BatchMode and ConnectTimeout; other programs are left alone', () => {
    assert.equal(batchSshCommand(undefined), 'ssh -o BatchMode=yes -o ConnectTimeout=20');
    assert.equal(batchSshCommand('ssh -i /k/id'), 'ssh -i /k/id -o BatchMode=yes -o ConnectTimeout=20');
    assert.equal(batchSshCommand('/usr/bin/ssh -F /c'), '/usr/bin/ssh -F /c -o BatchMode=yes -o ConnectTimeout=20');
    assert.equal(batchSshCommand('plink -batch'), 'plink -batch');
  });

  test('pull: an unknown host key fails at once naming the remote and the fix, the checkout unchanged', async () => {
    await useSshConfig(false);
    const head = await git(checkout, 'rev-parse', 'HEAD');
    await bed.setVersion('h1', '24.05.2');
    const started = Date.now();
    await assert.rejects(pullCheckout(ctxOf(), checkout), (err: Error) => {
      assert.match(err.message, /^host h1: git fetch in .* failed: the ssh host key of remote "origin" \(ssh:\/\/.*127\.0\.0\.1/);
      assert.match(err.message, new RegExp(`not in ${sshd.user}'s known_hosts and git runs without prompts \\(BatchMode\\)`));
      assert.match(err.message, new RegExp(`ssh-keyscan -p ${sshd.port} 127\\.0\\.0\\.1 >> ~/\\.ssh/known_hosts`));
      return true;
    });
    assert.ok(Date.now() - started < 15_000, 'failed fast');
    assert.equal(await git(checkout, 'rev-parse', 'HEAD'), head);
    const calls = readFileSync(sshLog, 'utf8');
    assert.match(calls, /-o BatchMode=yes -o ConnectTimeout=20/, 'the agent added BatchMode to the user\'s ssh command');
    assert.match(calls, new RegExp(`-F ${sshd.dir}/ssh_config\\.unknown-host\\.authorized\\.prompting`), "the user's ssh options were kept");
  });

  test('pull: with the host key known, the fetch over ssh works', async () => {
    await useSshConfig(true);
    const rev = await bed.setVersion('h1', '24.05.3');
    const r = await pullCheckout(ctxOf(), checkout);
    assert.equal(r.after, rev);
    assert.ok(r.changed);
    assert.match(readFileSync(sshLog, 'utf8'), /BatchMode=yes/);
  });

  test('the agent CLI (op worker) fails the same way, fast, with exit code 1', async () => {
    await useSshConfig(false);
    await bed.setVersion('h1', '24.05.4');
    const started = Date.now();
    const r = cli(bed, ['pull', '--config', bed.writeConfig('h1')]);
    assert.notEqual(r.status, 0, r.stdout);
    assert.match(r.stderr, /the ssh host key of remote "origin" .* is not in .*known_hosts/);
    assert.ok(Date.now() - started < 30_000);
    assert.match(readFileSync(sshLog, 'utf8'), /BatchMode=yes/);
  });

  test('everything an op worker runs (nix, activation, rebuild tools) gets the no-prompt ssh command too', async () => {
    await useSshConfig(true);
    // The test bed's activation runs this hook: a child of nix-env's caller, the op worker.
    bed.setHook('h1', 'echo "hook env: GIT_TERMINAL_PROMPT=$GIT_TERMINAL_PROMPT GIT_SSH_COMMAND=$GIT_SSH_COMMAND"');
    try {
      const r = cli(bed, ['switch', '--config', bed.writeConfig('h1')]);
      assert.equal(r.status, 0, r.stderr);
      const line = (r.stdout + r.stderr).split('\n').find((l) => l.includes('hook env:'));
      assert.ok(line, `the hook's line is in the op's output: ${r.stdout}`);
      assert.match(line, /GIT_TERMINAL_PROMPT=0 /);
      // The user's core.sshCommand (the double with their -F config), with ours appended once.
      assert.ok(line.includes(`GIT_SSH_COMMAND=${path.join(doubleDir, 'ssh')} -F `), line);
      assert.equal(line.split('BatchMode=yes').length - 1, 1, line);
    } finally {
      bed.setHook('h1', null);
    }
  });

  test('Rebuild Smart\'s upstream fetch: unknown host key fails with the fix; known key fetches', async () => {
    const { ctx } = await testOpContext(bed, 'h1', { kind: 'rebuild-smart' });
    const steps = new Steps(ctx, false);
    await useSshConfig(false);
    await assert.rejects(steps.gitChange(checkout, ['fetch', '--prune', 'origin'], 60_000), (err: Error) => {
      assert.match(err.message, /git fetch in .* failed: the ssh host key of remote "origin" \(ssh:\/\/.*\) is not in .*known_hosts/);
      return true;
    });
    assert.match(readFileSync(sshLog, 'utf8'), /BatchMode=yes/);
    await useSshConfig(true);
    const rev = await bed.setVersion('h1', '24.05.5');
    await steps.gitChange(checkout, ['fetch', '--prune', 'origin'], 60_000);
    assert.equal(await git(checkout, 'rev-parse', 'origin/main'), rev);
    // The reachability check of Rebuild Smart's prepare phase runs in BatchMode too.
    writeFileSync(sshLog, '');
    await (await steps.remoteGit(checkout, 20_000)).raw(['ls-remote', '--heads', 'origin']);
    assert.match(readFileSync(sshLog, 'utf8'), /BatchMode=yes/);
  });
});
