import assert from 'node:assert/strict';
import { test } from 'node:test';
import { explainRemoteFailure, sshServerOf } from '../../agent/git/env';
import { parseAddress, parseHostsSetting } from '../../src/fleet/hostConfig';
import { judgeExit } from '../../src/fleet/transportCommand';

test('ssh hosts: sshConfig and identityFile go into the argv before the target, checked as local absolute paths', () => {
  const e = parseAddress('h1', 'ssh://root@h1.lan:2222', { agentConfig: '/etc/nixfleet/agent.json', sshConfig: '/home/me/.ssh/fleet config', identityFile: '/home/me/.ssh/id_fleet' });
  assert.equal(e.kind, 'command');
  const argv = e.kind === 'command' ? e.argv : [];
  const dash = argv.indexOf('--');
  assert.deepEqual(argv.slice(0, dash), [
    'ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=15', '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=3',
    '-F', '/home/me/.ssh/fleet config', '-i', '/home/me/.ssh/id_fleet', '-o', 'IdentitiesOnly=yes', '-p', '2222',
  ]);
  assert.deepEqual(argv.slice(dash), ['--', 'root@h1.lan', 'nixfleet-agent', 'stdio', '--config', '/etc/nixfleet/agent.json']);
  for (const bad of ['-oProxyCommand=x', 'relative/cfg', '/etc/x\ny']) {
    assert.throws(() => parseAddress('h1', 'ssh://h1', { sshConfig: bad }), /host h1: sshConfig must be an absolute path/, JSON.stringify(bad));
    const r = parseHostsSetting([{ name: 'h1', address: 'ssh://h1', platform: 'nixos', identityFile: bad }]);
    assert.match(r.errors[0]!, /"h1": identityFile: must be an absolute path/);
  }
  assert.throws(() => parseAddress('h1', 'ws://127.0.0.1:1', { sshConfig: '/x' }), /sshConfig applies to ssh:\/\/ addresses only/);
  const ok = parseHostsSetting([{ name: 'h1', address: 'ssh://h1', platform: 'nixos', sshConfig: '/c', identityFile: '/k' }]);
  assert.deepEqual(ok.errors, []);
  assert.equal(ok.hosts[0]!.sshConfig, '/c');
});

test('ssh exits: key problems and a missing agent are fatal with the fix; network failures are retried', () => {
  const argv = ['ssh', '-o', 'BatchMode=yes', '-p', '2222', '--', 'root@h1.lan', 'nixfleet-agent', 'stdio'];
  const unknown = judgeExit(argv, 255, null, ['No ED25519 host key is known for [h1.lan]:2222 and you have requested strict checking.', 'Host key verification failed.'], false);
  assert.equal(unknown.fatal, true);
  assert.match(unknown.reason, /^ssh to root@h1\.lan:2222: the host key is not in known_hosts .*ssh -p 2222 root@h1\.lan/);
  const changed = judgeExit(argv, 255, null, ['@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @', 'Host key verification failed.'], false);
  assert.equal(changed.fatal, true);
  assert.match(changed.reason, /host key changed .*ssh-keygen -R/);
  const denied = judgeExit(argv, 255, null, ['root@h1.lan: Permission denied (publickey).'], false);
  assert.equal(denied.fatal, true);
  assert.match(denied.reason, /refused our key \(Permission denied \(publickey\)\).*authorized_keys/);
  const missing = judgeExit(argv, 127, null, ['bash: line 1: nixfleet-agent: command not found'], false);
  assert.equal(missing.fatal, true);
  assert.match(missing.reason, /nixfleet-agent is not on the PATH/);
  const down = judgeExit(argv, 255, null, ['ssh: connect to host h1.lan port 2222: Connection refused'], false);
  assert.equal(down.fatal, false);
  assert.match(down.reason, /cannot connect.*retrying/);
  // Once the agent spoke, an exit is a dropped connection: retried, whatever ssh said.
  assert.equal(judgeExit(argv, 255, null, ['Connection to h1.lan closed by remote host.'], true).fatal, false);
  // Not ssh: the plain message.
  assert.deepEqual(judgeExit(['node', 'agent.js', 'stdio'], 1, null, ['boom'], false), { reason: 'node exited (code 1): boom', fatal: false });
});

test('git remote failures name the remote, its ssh server and the fix', () => {
  assert.deepEqual(sshServerOf('ssh://git@example.org:2222/x/nixcfg.git'), { host: 'example.org', port: '2222' });
  assert.deepEqual(sshServerOf('git@github.com:me/nixcfg.git'), { host: 'github.com' });
  assert.equal(sshServerOf('https://github.com/me/nixcfg'), undefined);
  assert.equal(sshServerOf('/srv/nixcfg.git'), undefined);
  const m = explainRemoteFailure('Host key verification failed.\nfatal: Could not read from remote repository.', 'origin', 'git@github.com:me/nixcfg.git');
  assert.match(m!, /^the ssh host key of remote "origin" \(git@github\.com:me\/nixcfg\.git\) is not in .*known_hosts.*ssh-keyscan github\.com >>/);
  assert.match(explainRemoteFailure('git@github.com: Permission denied (publickey).', 'up', undefined)!, /remote "up" refused .*deploy key/);
  assert.match(explainRemoteFailure('ssh: connect to host x port 22: Connection timed out', 'origin', 'x:y')!, /cannot reach remote "origin" \(x:y\) \(ssh: connect to host x port 22: Connection timed out\)/);
  assert.equal(explainRemoteFailure("fatal: couldn't find remote ref nope", 'origin', undefined), undefined);
});
