import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { batchSshCommand, configuredSshCommand, GIT_SSH_OPTIONS, gitEnv, openGit } from '../../agent/git/env';

test('git env: no prompts, our ssh command, identity kept, ambient redirection and editors dropped', () => {
  const saved = { ...process.env };
  try {
    Object.assign(process.env, { GIT_AUTHOR_NAME: 'A', GIT_DIR: '/elsewhere', GIT_SSH: '/bin/evil', EDITOR: 'vim', SSH_ASKPASS: '/bin/ask', SSH_AUTH_SOCK: '/run/agent.sock' });
    const env = gitEnv('ssh -o BatchMode=yes', { GIT_OPTIONAL_LOCKS: '0' });
    assert.equal(env.GIT_TERMINAL_PROMPT, '0');
    assert.equal(env.GIT_SSH_COMMAND, 'ssh -o BatchMode=yes');
    assert.equal(env.GIT_OPTIONAL_LOCKS, '0');
    assert.equal(env.GIT_AUTHOR_NAME, 'A');
    assert.equal(env.SSH_AUTH_SOCK, '/run/agent.sock', 'an ssh agent stays usable');
    for (const k of ['GIT_DIR', 'GIT_SSH', 'EDITOR', 'SSH_ASKPASS']) assert.equal(env[k], undefined, k);
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});

test('the configured ssh command: GIT_SSH_COMMAND of the agent, else core.sshCommand, else none', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-gitenv-'));
  try {
    execFileSync('git', ['init', '-q', dir]);
    const noUserEnv = { ...process.env, GIT_SSH_COMMAND: '' };
    assert.equal(await configuredSshCommand(dir, noUserEnv), undefined);
    execFileSync('git', ['config', 'core.sshCommand', 'ssh -i /k/id'], { cwd: dir });
    assert.equal(await configuredSshCommand(dir, noUserEnv), 'ssh -i /k/id');
    assert.equal(await configuredSshCommand(dir, { ...process.env, GIT_SSH_COMMAND: 'ssh -F /c' }), 'ssh -F /c');
    // simple-git accepts our GIT_SSH_COMMAND (its documented unsafe.allowUnsafeSshCommand) and runs.
    const git = await openGit(dir);
    assert.equal((await git.raw(['config', '--get', 'core.sshCommand'])).trim(), 'ssh -i /k/id');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('batchSshCommand: appends BatchMode and ConnectTimeout to ssh once, leaves other programs alone', () => {
  assert.equal(batchSshCommand(undefined), `ssh ${GIT_SSH_OPTIONS}`);
  assert.equal(batchSshCommand('ssh -i /k/id'), `ssh -i /k/id ${GIT_SSH_OPTIONS}`);
  // An op worker exports the result for everything it runs; its own git calls read it back.
  const once = batchSshCommand('ssh -i /k/id');
  assert.equal(batchSshCommand(once), once);
  assert.equal(batchSshCommand('plink -batch'), 'plink -batch');
});
