import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAddress, parseHostsSetting } from '../../src/fleet/hostConfig';

test('nixfleet.hosts: valid entries pass, bad ones are reported by name and do not hide the rest', () => {
  const r = parseHostsSetting([
    { name: 'h1', address: 'ws://127.0.0.1:7531', platform: 'nixos' },
    { name: 'bad name', address: 'ws://127.0.0.1:1', platform: 'nixos' },
    { name: 'h2', address: 'http://x', platform: 'nixos' },
    { name: 'h3', address: 'ssh://root@h3.lan:2222', platform: 'darwin', agentConfig: '/etc/nixfleet/agent.json' },
    { name: 'h1', address: 'ws://127.0.0.1:7532', platform: 'nixos' },
    { name: 'h4', address: 'ws://127.0.0.1:1', platform: 'windows' },
    { name: 'h5', address: 'ws://127.0.0.1:1', platform: 'nixos', token: 'secret' },
    'h6',
  ]);
  assert.deepEqual(r.hosts.map((h) => h.name), ['h1', 'h3']);
  assert.equal(r.errors.length, 6);
  assert.match(r.errors[0]!, /"bad name": name: host must be a flake attribute name/);
  assert.match(r.errors[1]!, /"h2": host h2: address scheme "http:" is not supported/);
  assert.match(r.errors[2]!, /"h1": host h1 is listed twice/);
  assert.match(r.errors[3]!, /"h4": platform/);
  assert.match(r.errors[4]!, /"h5": .*token/);
  assert.match(r.errors[5]!, /#8/);
  assert.deepEqual(parseHostsSetting(undefined), { hosts: [], errors: [] });
  assert.match(parseHostsSetting({}).errors[0]!, /must be a list/);
});

test('addresses: ws/wss kept as URLs, ssh becomes an argv that cannot be read as options', () => {
  assert.deepEqual(parseAddress('h1', 'wss://agent.example:7531'), { kind: 'ws', url: 'wss://agent.example:7531/' });
  const ssh = parseAddress('h3', 'ssh://root@h3.lan:2222', '/etc/nixfleet/agent.json');
  assert.equal(ssh.kind, 'command');
  assert.deepEqual(ssh.kind === 'command' && ssh.argv, [
    'ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=15', '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=3', '-p', '2222', '--', 'root@h3.lan', 'nixfleet-agent', 'stdio', '--config', '/etc/nixfleet/agent.json',
  ]);
  const plain = parseAddress('h3', 'ssh://h3');
  assert.deepEqual(plain.kind === 'command' && plain.argv.slice(-3), ['h3', 'nixfleet-agent', 'stdio']);
  assert.throws(() => parseAddress('h1', 'ssh://-oProxyCommand=x@h'), /ssh user/);
  assert.throws(() => parseAddress('h1', 'ssh://h/path'), /takes no path/);
  // The remote shell parses ssh's command line: nothing in the config path may reach it.
  for (const bad of ['/etc/x; touch /tmp/pwned', '/etc/$(id)', '/etc/a b', '/etc/`id`', "/etc/'x'", 'relative/x', '/etc/../x', '/etc/x\ny']) {
    assert.throws(() => parseAddress('h3', 'ssh://h3', bad), /agentConfig must be an absolute path/, JSON.stringify(bad));
    assert.match(parseHostsSetting([{ name: 'h3', address: 'ssh://h3', platform: 'nixos', agentConfig: bad }]).errors[0]!, /agentConfig must be/);
  }
  assert.throws(() => parseAddress('h1', 'ws://user:pw@h:1'), /credentials/);
  assert.throws(() => parseAddress('h1', 'not a url'), /host h1: address "not a url" is not a URL/);
});
