// Per-host credentials against the real nats-server's permission checks: host h1 can
// neither receive another host's requests nor publish as another host (replies, status,
// journal, audit) nor read another host's journal; an operator cannot publish a host's
// status. Without brokerCredentials (a broker that checks nobody) the agent serves reads
// only. The positive controls show the same connection may do what is its own.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createUser } from '@nats-io/nkeys';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { STATUS_BUCKET, STREAMS, subjects } from '../../protocol/broker';
import { credentialsAuthenticator } from '../../protocol/brokerCredentials';
import { BrokerClient } from '../../src/broker/client';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { waitFor } from './agent-harness';
import { brokerAgentClient, brokerConfig, operator, startBrokerAgent, startNats, type BrokerSetup, type NatsCluster } from './broker-harness';

let work: string;
let setup: BrokerSetup;
let nats: NatsCluster;

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'nixfleet-broker-sec-'));
  setup = brokerConfig(path.join(work, 'broker'), ['h1', 'h2']);
  nats = await startNats(setup);
  // The streams and the bucket exist, as in any fleet a controller connected to once.
  await (await operator(setup, nats.urls)).close();
});
after(async () => {
  await nats?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** A raw connection on a host's credentials, collecting the server's permission errors. */
async function asHost(host: string): Promise<{ nc: NatsConnection; errors: string[] }> {
  const nc = await connect({
    servers: nats.urls,
    authenticator: credentialsAuthenticator(readFileSync(setup.hostCredentials(host), 'utf8'), host),
    inboxPrefix: subjects.hostInbox(host),
  });
  const errors: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(s.error.message);
  })();
  return { nc, errors };
}

const violation = (errors: string[], kind: 'Publish' | 'Subscription', subject: string) =>
  errors.some((e) => e.includes(`Permissions Violation for ${kind} to "${subject}"`) || e.includes(`Permissions Violation for ${kind} to ${subject}`));

describe('broker permissions', () => {
  test("a host's credentials cannot read another host's requests", async () => {
    const { nc, errors } = await asHost('h1');
    const mine = nc.subscribe(subjects.hostRequests('h1'));
    const theirs = nc.subscribe(subjects.hostRequests('h2'));
    const operators = nc.subscribe('_INBOX.>');
    await nc.flush();
    await waitFor('the permission errors', () => violation(errors, 'Subscription', subjects.hostRequests('h2')) && violation(errors, 'Subscription', '_INBOX.>'));
    // The operator's frames for h2 reach h2's subscribers only; h1's allowed subscription stays open.
    const op = await operator(setup, nats.urls);
    const got: string[] = [];
    void (async () => {
      for await (const m of theirs) got.push(m.subject);
    })().catch(() => {});
    op.nc.publish(subjects.session('h2', 'abc'), '{"type":"hello"}');
    op.nc.publish(subjects.session('h1', 'abc'), '{"type":"hello"}');
    await op.nc.flush();
    const first = await mine[Symbol.asyncIterator]().next();
    assert.equal(first.value?.subject, subjects.session('h1', 'abc'));
    assert.deepEqual(got, []);
    assert.equal(violation(errors, 'Subscription', subjects.hostRequests('h1')), false);
    await op.close();
    await nc.close();
    void operators;
  });

  test('a host cannot publish as another host: replies, status, journal, audit, queue, sessions', async () => {
    const { nc, errors } = await asHost('h1');
    const denied = [
      subjects.reply('h2', 'abc'),
      `$KV.${STATUS_BUCKET}.h2`,
      subjects.journal('h2', 'op1'),
      subjects.audit('h2'),
      subjects.queue('h2'),
      subjects.session('h2', 'abc'),
      `$JS.API.DIRECT.GET.${STREAMS.journal}.${subjects.journal('h2', 'op1')}`,
      `$JS.API.STREAM.PURGE.${STREAMS.journal}`,
    ];
    const allowed = [subjects.reply('h1', 'abc'), subjects.audit('h1')];
    // An operator listening on h2's replies must hear nothing from h1's connection.
    const op = await operator(setup, nats.urls);
    const heard: string[] = [];
    op.nc.subscribe(subjects.replies('h2'), { callback: (_e, m) => void heard.push(m.subject) });
    await op.nc.flush();
    for (const s of [...denied, ...allowed]) nc.publish(s, '{}');
    await nc.flush();
    await waitFor('a permission error for every denied subject', () => denied.every((s) => violation(errors, 'Publish', s)));
    for (const s of allowed) assert.equal(violation(errors, 'Publish', s), false, `h1 may publish ${s}`);
    await op.nc.flush();
    assert.deepEqual(heard, []);
    // Through the JetStream API: the status bucket refuses a put for h2 (no ack comes).
    const { Kvm } = await import('@nats-io/kv');
    const { jetstream } = await import('@nats-io/jetstream');
    const kv = await new Kvm(jetstream(nc, { timeout: 2000 })).open(STATUS_BUCKET);
    await assert.rejects(kv.put('h2', '{"forged":true}'));
    assert.equal(await (await new Kvm(op.js).open(STATUS_BUCKET)).get('h2'), null);
    await op.close();
    await nc.close();
  });

  test('an operator cannot publish a host status either', async () => {
    const op = await operator(setup, nats.urls, 'bob');
    const errors: string[] = [];
    void (async () => {
      for await (const s of op.nc.status()) if (s.type === 'error') errors.push(s.error.message);
    })();
    op.nc.publish(`$KV.${STATUS_BUCKET}.h1`, '{}');
    op.nc.publish(subjects.journal('h1', 'x'), '{}');
    await op.nc.flush();
    await waitFor('permission errors', () => violation(errors, 'Publish', `$KV.${STATUS_BUCKET}.h1`) && violation(errors, 'Publish', subjects.journal('h1', 'x')));
    await op.close();
  });

  test('wrong credentials are refused by the server; none at all against an open broker: reads only', async () => {
    // A well-formed seed the server has never heard of: the server itself must refuse it.
    // (Editing a real seed's first characters is not reliable: "SUAA" is a valid start that
    // one seed in sixteen already has, and then the "wrong" credentials were the right ones.)
    const stranger = new TextDecoder().decode(createUser().getSeed());
    await assert.rejects(BrokerClient.connect({ servers: nats.urls, credentials: stranger }), /cannot connect to the broker.*authoriz/i);
    // A damaged seed (checksum broken) is refused before it is sent.
    const real = readFileSync(setup.hostCredentials('h2'), 'utf8').trim();
    const damaged = real.slice(0, 10) + (real[10] === 'A' ? 'B' : 'A') + real.slice(11);
    await assert.rejects(BrokerClient.connect({ servers: nats.urls, credentials: damaged }), /cannot connect to the broker|seed/i);
    // A broker that authenticates nobody: the agent has no brokerCredentials, so it cannot
    // know who sent a request, and refuses anything that changes the host.
    const bed: TestBed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const open = brokerConfig(path.join(work, 'open'), ['h1']);
    // Same generated server config without accounts: everyone is the global account.
    const { writeFileSync } = await import('node:fs');
    const conf = JSON.parse(readFileSync(path.join(open.dir, 'nats-server.conf'), 'utf8').replace(/^#.*\n/, '')) as Record<string, unknown>;
    delete conf.accounts;
    writeFileSync(path.join(open.dir, 'nats-server.conf'), JSON.stringify(conf));
    const openNats = await startNats(open);
    const agent = await startBrokerAgent(bed, 'h1', openNats.urls, undefined);
    const anyone = await BrokerClient.connect({ servers: openNats.urls, ensure: { replicas: 1 } });
    const c = brokerAgentClient(anyone, 'h1');
    try {
      await c.connect();
      assert.equal((await c.status()).host, 'h1');
      await assert.rejects(c.startOp('open-1', 'switch', {}), (e: Error & { code?: string }) => e.code === 'unauthorized');
      assert.match(agent.stderr(), /no brokerCredentials: controllers on the broker are not authenticated/);
    } finally {
      c.close();
      await anyone.close();
      await agent.stop();
      await openNats.stop();
      await bed.cleanup();
    }
  });
});
