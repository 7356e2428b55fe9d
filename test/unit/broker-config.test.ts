// The broker's config keys, the host-name mapping of its subjects, and the permissions
// broker-config grants (the real server's enforcement is in test/integration/broker-security.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { extractConfigFlags, parseConfig } from '../../agent/config';
import { hostPermissions, operatorPermissions, validateNames } from '../../agent/broker/serverConfig';
import { hostFromToken, hostToken, subjects } from '../../protocol/broker';
import { credentialsAuthenticator } from '../../protocol/brokerCredentials';

const base = { host: 'h1', flake: '/f', platform: 'nixos', stateDir: '/s' };

test('broker: one URL, a list, or the flag with commas; credentials need a broker; listen may be null', () => {
  assert.equal(parseConfig({ ...base, broker: 'nats://127.0.0.1:4222' }).broker, 'nats://127.0.0.1:4222');
  assert.deepEqual(parseConfig({ ...base, broker: ['tls://a.example:4222', 'tls://b.example'] }).broker, ['tls://a.example:4222', 'tls://b.example']);
  const { overrides } = extractConfigFlags(['--broker', 'nats://a:1,nats://b:2', '--broker-credentials', '/k.nk']);
  assert.deepEqual(parseConfig({ ...base, ...overrides }).broker, ['nats://a:1', 'nats://b:2']);
  assert.equal(parseConfig({ ...base, listen: null, broker: 'nats://a' }).listen, null);
  assert.throws(() => parseConfig({ ...base, broker: 'nats://user:pw@a:4222' }), /broker must be nats:\/\/HOST\[:PORT\] or tls:\/\/HOST\[:PORT\] \(credentials go in brokerCredentials/);
  assert.throws(() => parseConfig({ ...base, broker: [] }), /at least one nats:\/\/ URL/);
  assert.throws(() => parseConfig({ ...base, brokerCredentials: '/k.nk' }), /brokerCredentials is set but broker is not/);
  assert.throws(() => parseConfig({ ...base, broker: 'nats://a', brokerCredentials: 'k.nk' }), /brokerCredentials must be an absolute path/);
});

test('host names as subject tokens: reversible, "@" mapped', () => {
  for (const h of ['h1', 'alice@laptop', 'a_b-c']) assert.equal(hostFromToken(hostToken(h)), h);
  assert.equal(subjects.session('alice@laptop', 'x'), 'nixfleet.host.alice=laptop.session.x');
});

test('a host is granted nothing that names another host, and nothing with a wildcard across hosts', () => {
  const p = hostPermissions('h1');
  for (const s of [...p.publish.allow, ...p.subscribe.allow]) {
    assert.match(s, /(^|\.)h1(\.|$)|host-h1/, `${s} names h1`);
    assert.doesNotMatch(s, /^nixfleet\.[a-z]+\.\*|^_INBOX|^\$JS\.API\.>$/, `${s} reaches other hosts`);
  }
  const op = operatorPermissions();
  assert.ok(!op.publish.allow.some((s) => s.startsWith('$KV.') || s.includes('journal') || s.includes('audit')), 'operators cannot write host records');
});

test('broker-config names and credentials are validated', () => {
  assert.throws(() => validateNames([], ['alice']), /--hosts/);
  assert.throws(() => validateNames(['bad name'], []), /not a host name/);
  assert.throws(() => validateNames(['h1', 'h1'], []), /h1 is listed twice/);
  assert.throws(() => credentialsAuthenticator('password123', 'brokerCredentials /k'), /brokerCredentials \/k is neither a NATS .creds file nor a user nkey seed/);
});
