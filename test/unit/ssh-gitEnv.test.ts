import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

test('core.sshCommand is asked of git once while nothing git reads for it changed, and again when anything did', async () => {
  const { gitConfigKey } = await import('../../agent/git/configKey');
  const root = mkdtempSync(path.join(tmpdir(), 'nixfleet-gitkey-'));
  const saved = { ...process.env };
  try {
    // A recording git on PATH (a test double around the real one): each call is a line in `calls`.
    const bin = path.join(root, 'bin');
    const calls = path.join(root, 'calls');
    const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    mkdirSync(bin);
    const writeDouble = (extra = '') => writeFileSync(path.join(bin, 'git'), `#!/bin/sh\n${extra}echo "$*" >> '${calls}'\nexec '${realGit}' "$@"\n`, { mode: 0o755 });
    writeDouble();
    const home = path.join(root, 'home');
    mkdirSync(home);
    const repo = path.join(root, 'repo');
    execFileSync(realGit, ['init', '-q', repo]);
    Object.assign(process.env, { PATH: `${bin}:${saved.PATH}`, HOME: home, GIT_SSH_COMMAND: '' });
    delete process.env.XDG_CONFIG_HOME;
    const asked = () => (existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n').length : 0);
    const ask = () => configuredSshCommand(repo, { ...process.env, GIT_SSH_COMMAND: '' });

    assert.equal(await ask(), undefined);
    assert.equal(await ask(), undefined);
    assert.equal(asked(), 1, 'the second look-up reused the first answer');
    execFileSync(realGit, ['config', 'core.sshCommand', 'ssh -i /k/repo'], { cwd: repo });
    assert.equal(await ask(), 'ssh -i /k/repo', "the repository's config changed");
    assert.equal(asked(), 2);
    writeFileSync(path.join(home, '.gitconfig'), '[user]\n\tname = someone\n');
    assert.equal(await ask(), 'ssh -i /k/repo');
    assert.equal(asked(), 3, 'a new global file is read again');
    mkdirSync(path.join(home, '.config', 'git'), { recursive: true });
    writeFileSync(path.join(home, '.config', 'git', 'config'), '[core]\n\tpager = less\n');
    await ask();
    assert.equal(asked(), 4, 'the XDG global file too');
    writeDouble(': another build of git\n');
    await ask();
    assert.equal(asked(), 5, 'another git on PATH is asked');
    await ask();
    assert.equal(asked(), 5);
    // An include names a file the key cannot follow: git is asked every time.
    writeFileSync(path.join(home, '.gitconfig'), `[include]\n\tpath = ${path.join(home, 'more')}\n`);
    writeFileSync(path.join(home, 'more'), '[core]\n\tsshCommand = ssh -i /k/included\n');
    execFileSync(realGit, ['config', '--unset', 'core.sshCommand'], { cwd: repo });
    assert.equal(await ask(), 'ssh -i /k/included');
    writeFileSync(path.join(home, 'more'), '[core]\n\tsshCommand = ssh -i /k/changed\n');
    assert.equal(await ask(), 'ssh -i /k/changed');
    assert.equal(asked(), 7);
    assert.equal(gitConfigKey(repo), undefined);
    // So is a directory below the repository's top, or one that is none.
    rmSync(path.join(home, '.gitconfig'));
    mkdirSync(path.join(repo, 'hosts'));
    assert.equal(gitConfigKey(path.join(repo, 'hosts')), undefined);
    assert.equal(gitConfigKey(home), undefined);
    assert.notEqual(gitConfigKey(repo), undefined);
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    rmSync(root, { recursive: true, force: true });
  }
});
