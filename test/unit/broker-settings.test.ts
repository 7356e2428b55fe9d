// What the extension takes for the broker: the nixfleet.broker setting (a URL or a cluster's
// list, each checked), "broker" as a host's address in nixfleet.hosts, and operator
// credentials pasted into a one-line box (a .creds file's line breaks are gone there).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createUser } from '@nats-io/nkeys';
import { pastedCredentials } from '../../src/broker/credentials';
import { readHostsFile } from '../../src/cli/hosts/hostsFile';
import { parseAddress, parseHostsSetting } from '../../src/fleet/hostConfig';
import { Settings } from '../../src/settings';

const settings = (broker: unknown) => new Settings({ setting: (k) => (k === 'nixfleet.broker' ? broker : undefined) });

test('nixfleet.broker: empty is no broker; a URL or a list of them; anything else named with the fix', () => {
  assert.deepEqual(settings(undefined).broker, [], 'the contributed default: no broker');
  assert.deepEqual(settings('').broker, []);
  assert.deepEqual(settings(' nats://nats.example.org:4222 ').broker, ['nats://nats.example.org:4222']);
  assert.deepEqual(settings(['tls://n1.example.org:4222', 'tls://n2.example.org:4222']).broker, ['tls://n1.example.org:4222', 'tls://n2.example.org:4222']);
  assert.throws(() => settings('http://nats.example.org:4222').broker, /^Error: setting nixfleet\.broker: "http:\/\/nats\.example\.org:4222" is not a broker address: give nats:\/\/HOST:PORT or tls:\/\/HOST:PORT.*; fix it in Settings$/);
  assert.throws(() => settings('nats://alice:secret@nats.example.org:4222').broker, /with no user or password in it/);
  assert.throws(() => settings(['nats://a:4222', 'nats://a:4222']).broker, /names a broker address twice/);
  assert.throws(() => settings([]).broker, /names no broker address/);
  assert.throws(() => settings(4222).broker, /must be a URL or a list of URLs/);
  assert.throws(() => settings(['nats://a:4222', 7]).broker, /must be a URL or a list of URLs/);
});

test('a host entry with address "broker" is reached through the broker; ssh settings are refused on it', () => {
  assert.deepEqual(parseAddress('h1', 'broker'), { kind: 'broker' });
  const r = parseHostsSetting([
    { name: 'h1', address: 'broker', platform: 'nixos', tags: ['web'] },
    { name: 'h2', address: 'broker', platform: 'nixos', identityFile: '/root/.ssh/id' },
    { name: 'h3', address: 'brokr', platform: 'nixos' },
  ]);
  assert.deepEqual(r.hosts.map((h) => h.name), ['h1']);
  assert.match(r.errors[0]!, /"h2": host h2: identityFile applies to ssh:\/\/ addresses only/);
  assert.match(r.errors[1]!, /"h3": .*is not a URL: use ws:\/\/.*or "broker" \(through nixfleet\.broker\)/);
  // The CLI's hosts file has no broker to reach it through: it says which flags do.
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-hostsfile-'));
  try {
    const file = path.join(dir, 'hosts.json');
    writeFileSync(file, JSON.stringify([{ name: 'h1', address: 'broker', platform: 'nixos' }]));
    assert.throws(() => readHostsFile(file), /host h1 is reached through a broker \("address": "broker"\); run the command with --broker URL --credentials FILE instead of --hosts-file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pasted credentials: a seed, or a .creds text whose line breaks the input box removed', () => {
  const seed = new TextDecoder().decode(createUser().getSeed());
  assert.equal(pastedCredentials(`  ${seed}  `), `${seed}\n`);
  const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVQSJ9.c2ln';
  const creds = `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n************************* IMPORTANT *************************\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
  const flattened = creds.replace(/\n+/g, ' ');
  const restored = pastedCredentials(flattened);
  assert.match(restored, new RegExp(`-----BEGIN NATS USER JWT-----\\n${jwt.replace(/\./g, '\\.')}\\n------END NATS USER JWT------`));
  assert.match(restored, new RegExp(`-----BEGIN USER NKEY SEED-----\\n${seed}\\n------END USER NKEY SEED------`));
  assert.equal(pastedCredentials(creds), creds.trim() + '\n', 'a paste that kept its lines is taken as it is');
  assert.throws(() => pastedCredentials('hunter2'), /the pasted credentials is neither a NATS \.creds file nor a user nkey seed/);
});
