// The controller CLI (`node dist/nixfleet.js --broker …`) against a real nats-server on
// loopback and a real agent that listens on no port (`listen: null`, `broker`): hosts
// --json from the status bucket, switch, rollback --to N and deploy checked on the profile
// link on disk, log --follow of a running op (every line once), a stopped agent shown offline
// from its last record, and the refusals: a credentials file others can read, --broker
// together with --hosts-file, a bad URL, a host the bucket does not hold.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { opInfo } from '../../protocol';
import type { BrokerClient } from '../../src/broker/client';
import { FleetStatusWatcher } from '../../src/broker/fleetStatus';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, waitFor } from './agent-harness';
import { brokerConfig, operator, startBrokerAgent, startNats, type BrokerAgent, type BrokerSetup, type NatsCluster } from './broker-harness';
import { assertFollowedOnce, NIXFLEET_JS, profileGeneration, runCli, startCli } from './cli-harness';

const execFileP = promisify(execFile);

const oneSentence = (stderr: string, re: RegExp) => {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got: ${stderr}`);
  assert.match(lines[0]!, /^nixfleet: .{10,}/);
  assert.match(lines[0]!, re);
};

describe('nixfleet CLI through a NATS broker', { skip: (!existsSync(AGENT_JS) || !existsSync(NIXFLEET_JS)) && 'dist/ missing: run npm run build' }, () => {
  let bed: TestBed;
  let work: string;
  let setup: BrokerSetup;
  let nats: NatsCluster;
  let alice: BrokerClient;
  let agent: BrokerAgent;
  let profile: string;
  let common: string[];

  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    profile = bed.host('h1').profile;
    // Generation 1: what rollback --to 1 returns to.
    const storePath = await bed.build('h1', bed.workstation);
    await execFileP('nix-env', ['-p', profile, '--set', storePath], { env: bed.env });
    work = mkdtempSync(path.join(tmpdir(), 'nixfleet-cli-broker-'));
    setup = brokerConfig(path.join(work, 'broker'), ['h1']);
    nats = await startNats(setup);
    // The streams and the bucket exist once a controller connected (src/broker/setup.ts).
    alice = await operator(setup, nats.urls);
    agent = await startBrokerAgent(bed, 'h1', nats.urls, setup.hostCredentials('h1'));
    const fleet = await FleetStatusWatcher.start(alice.js);
    try {
      await waitFor('h1 online in the status bucket', () => fleet.get('h1')?.online && fleet.get('h1')?.record.status, 60_000);
    } finally {
      fleet.close();
    }
    common = ['--broker', nats.urls.join(','), '--credentials', setup.operatorCredentials('alice')];
  });

  after(async () => {
    await agent?.stop();
    await alice?.close();
    await nats?.stop();
    await bed?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('hosts --json lists the hosts of the status bucket: name, platform, online, generation, running op', async () => {
    const r = await runCli(['hosts', '--json', ...common]);
    assert.equal(r.status, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { name: string; platform: string; address: string; online: boolean; generation: number | null; runningOp: unknown }[];
    assert.deepEqual(list.map((h) => h.name), ['h1']);
    assert.equal(list[0]!.platform, 'nixos');
    assert.equal(list[0]!.online, true);
    assert.equal(list[0]!.generation, profileGeneration(profile));
    assert.equal(list[0]!.runningOp, null);
    assert.equal(list[0]!.address, `broker ${nats.urls.join(',')}`);
    const plain = await runCli(['hosts', ...common]);
    assert.equal(plain.status, 0, plain.stderr);
    assert.deepEqual(plain.stdout.trim().split('\n').map((l) => l.split('\t').slice(0, 4)), [['h1', 'nixos', 'online', String(profileGeneration(profile))]]);
  });

  it('switch --yes makes a new generation on disk (magic rollback confirmed through the broker); rollback --to 1 puts the link back', async () => {
    const commit = await bed.setVersion('h1', '24.05.7');
    const before = profileGeneration(profile);
    const sw = await runCli(['switch', 'h1', '--rev', commit, '--yes', '--json', ...common]);
    assert.equal(sw.status, 0, sw.stderr);
    const op = opInfo.parse(JSON.parse(sw.stdout));
    assert.equal(op.state, 'succeeded', op.error);
    assert.equal(op.result?.generationAfter, before + 1);
    assert.equal(profileGeneration(profile), before + 1, 'the profile link moved on disk');
    assert.match(sw.stderr, /confirmed op \S+ over a new connection: host h1 is still reachable/);
    assert.match(sw.stderr, /switch-to-configuration: activated/);

    const rb = await runCli(['rollback', 'h1', '--to', '1', '--yes', ...common]);
    assert.equal(rb.status, 0, rb.stderr);
    assert.match(rb.stderr, /rollback on h1 succeeded: generation \d+ → 1/);
    assert.equal(profileGeneration(profile), 1, 'the profile link is back on generation 1');

    // deploy: the same engine as over ws, its host reached through the broker.
    const next = await bed.setVersion('h1', '24.05.8');
    const dep = await runCli(['deploy', '--rev', next, '--no-closure-diff', '--yes', ...common]);
    assert.equal(dep.status, 0, dep.stderr);
    assert.match(dep.stdout, /^Deployed commit \S+ to 1 host$/m);
    const last = bed.activations('h1').at(-1)!;
    assert.match(last.storePath, /24\.05\.8/);
    assert.equal(realpathSync(profile), last.storePath, 'the profile points at the deployed system');
  });

  it('log --follow prints every journal line of a running op once, and the snapshot agrees', async () => {
    const n = 60;
    bed.setHook('h1', `i=1; while [ $i -le ${n} ]; do echo "tick-$i"; i=$((i+1)); sleep 0.05; done`);
    const opId = 'cli-broker-follow-1';
    try {
      const sw = startCli(['switch', 'h1', '--yes', '--op-id', opId, '--no-magic-rollback', ...common]);
      await waitFor('the switch to print its first tick', () => /tick-1\b/.test(sw.stdout()), 60_000);
      const text = startCli(['log', 'h1', opId, '--follow', ...common]);
      const json = startCli(['log', 'h1', opId, '--follow', '--json', ...common]);
      const [swr, tr, jr] = await Promise.all([sw.done, text.done, json.done]);
      assert.equal(swr.status, 0, swr.stderr);
      assertFollowedOnce(tr, jr, n);
      const snap = await runCli(['log', 'h1', opId, ...common]);
      assert.equal(snap.status, 0, snap.stderr);
      assert.equal(snap.stdout.split('\n').filter((l) => /^tick-\d+$/.test(l)).length, n);
    } finally {
      bed.setHook('h1', null);
    }
  });

  it('refusals in one sentence: a credentials file others can read, --broker with --hosts-file, a host not in the bucket', async () => {
    const gen = profileGeneration(profile);
    const loose = path.join(work, 'alice-0644.nk');
    copyFileSync(setup.operatorCredentials('alice'), loose);
    chmodSync(loose, 0o644);
    const r = await runCli(['switch', 'h1', '--yes', '--broker', nats.urls[0]!, '--credentials', loose]);
    assert.equal(r.status, 2);
    oneSentence(r.stderr, new RegExp(`credentials file ${loose.replace(/[.]/g, '\\.')} is readable or writable by group or others \\(mode 644\\); run: chmod 600 `));
    assert.equal(r.stdout, '');

    const hostsFile = path.join(work, 'hosts.json');
    writeFileSync(hostsFile, JSON.stringify([{ name: 'h1', address: 'ws://127.0.0.1:9', platform: 'nixos' }]));
    const both = await runCli(['hosts', ...common, '--hosts-file', hostsFile]);
    assert.equal(both.status, 2);
    oneSentence(both.stderr, /--broker and --hosts-file are two ways to find the hosts; give one of them/);

    const bad = await runCli(['hosts', '--broker', 'http://127.0.0.1:4222', '--credentials', setup.operatorCredentials('alice')]);
    assert.equal(bad.status, 2);
    oneSentence(bad.stderr, /--broker: "http:\/\/127\.0\.0\.1:4222" is not a broker address/);

    const nosuch = await runCli(['switch', 'nosuch', '--yes', ...common]);
    assert.equal(nosuch.status, 2);
    oneSentence(nosuch.stderr, /host nosuch is not in the status bucket of broker nats:\/\/127\.0\.0\.1:\d+; known hosts: h1/);
    assert.equal(profileGeneration(profile), gen, 'nothing changed');
  });

  it('a stopped agent: hosts shows it offline from its last record, and switch fails at once saying so', async () => {
    const gen = profileGeneration(profile);
    await agent.stop(); // a clean stop writes online: false to the bucket
    const r = await runCli(['hosts', '--json', ...common]);
    assert.equal(r.status, 0, r.stderr);
    const [h1] = JSON.parse(r.stdout) as { name: string; online: boolean; generation: number | null; error?: string }[];
    assert.equal(h1!.online, false);
    assert.equal(h1!.generation, gen, 'the last known generation stays');
    assert.match(h1!.error!, /host h1 is offline: its agent stopped at \S+; start it again/);
    const sw = await runCli(['switch', 'h1', '--yes', ...common]);
    assert.equal(sw.status, 1);
    oneSentence(sw.stderr, /host h1 is offline: its agent stopped at \S+; start it again/);
    assert.equal(profileGeneration(profile), gen);
  });
});
