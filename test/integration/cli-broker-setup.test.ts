// `nixfleet broker-setup` against real nats-server on loopback: it creates the three streams
// and the status bucket on an empty broker with the stated replicas and kept times, changes
// nothing the second time, brings a stream someone changed back in line (and says so), and
// moves everything to 3 replicas on a real three-node cluster. Refusals: 3 replicas on a
// single server (the server's error, with the fix), a bad --replicas, --hosts-file.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nanos } from '@nats-io/nats-core';
import { AUDIT_MAX_AGE_MS, JOURNAL_MAX_AGE_MS, QUEUE_MAX_AGE_MS, STATUS_BUCKET, STREAMS } from '../../protocol/broker';
import { BrokerClient } from '../../src/broker/client';
import type { SetupStep } from '../../src/broker/setup';
import { brokerConfig, startNats, type BrokerSetup, type NatsCluster } from './broker-harness';
import { NIXFLEET_JS, runCli } from './cli-harness';

const STREAM_OF: Record<string, string> = { [STREAMS.journal]: STREAMS.journal, [STREAMS.audit]: STREAMS.audit, [STREAMS.queue]: STREAMS.queue, [STATUS_BUCKET]: `KV_${STATUS_BUCKET}` };

/** A plain operator connection that creates nothing (no `ensure`). */
async function plainOperator(setup: BrokerSetup, urls: string[]): Promise<BrokerClient> {
  return BrokerClient.connect({ servers: urls, credentials: readFileSync(setup.operatorCredentials('alice'), 'utf8'), name: 'test look' });
}

async function streamNames(c: BrokerClient): Promise<string[]> {
  const names: string[] = [];
  for await (const n of c.jsm.streams.names()) names.push(n);
  return names.sort();
}

describe('nixfleet broker-setup', { skip: !existsSync(NIXFLEET_JS) && 'dist/ missing: run npm run build' }, () => {
  let work: string;
  let setup: BrokerSetup;
  let single: NatsCluster;
  let login: string[];

  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'nixfleet-broker-setup-'));
    setup = brokerConfig(path.join(work, 'broker'), ['h1']);
    single = await startNats(setup);
    login = ['--broker', single.urls.join(','), '--credentials', setup.operatorCredentials('alice')];
  });
  after(async () => {
    await single?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('creates the streams and the bucket on an empty broker, then finds them right', async () => {
    const look = await plainOperator(setup, single.urls);
    try {
      assert.deepEqual(await streamNames(look), [], 'an empty broker to start with');
      const first = await runCli(['broker-setup', ...login, '--json']);
      assert.equal(first.status, 0, first.stderr);
      const steps = JSON.parse(first.stdout) as SetupStep[];
      assert.deepEqual(steps.map((s) => [s.kind, s.name, s.action, s.replicas]), [
        ['stream', STREAMS.journal, 'created', 1],
        ['stream', STREAMS.audit, 'created', 1],
        ['stream', STREAMS.queue, 'created', 1],
        ['bucket', STATUS_BUCKET, 'created', 1],
      ]);
      // What the server holds, asked of it directly.
      assert.deepEqual(await streamNames(look), [STREAMS.audit, STREAMS.journal, STREAMS.queue, `KV_${STATUS_BUCKET}`].sort());
      const ages: Record<string, number> = { [STREAMS.journal]: JOURNAL_MAX_AGE_MS, [STREAMS.audit]: AUDIT_MAX_AGE_MS, [STREAMS.queue]: QUEUE_MAX_AGE_MS };
      for (const [name, ms] of Object.entries(ages)) {
        const info = await look.jsm.streams.info(name);
        assert.equal(info.config.max_age, nanos(ms), `${name} keeps messages for the documented time`);
        assert.equal(info.config.num_replicas, 1);
      }
      assert.equal((await look.jsm.streams.info(`KV_${STATUS_BUCKET}`)).config.max_msgs_per_subject, 1, 'the bucket keeps the latest record per host');

      const again = await runCli(['broker-setup', ...login]);
      assert.equal(again.status, 0, again.stderr);
      const rows = again.stdout.trim().split('\n').map((l) => l.split('\t'));
      assert.deepEqual(rows.map((r) => [r[1], r[2]]), [[STREAMS.journal, 'unchanged'], [STREAMS.audit, 'unchanged'], [STREAMS.queue, 'unchanged'], [STATUS_BUCKET, 'unchanged']]);
      assert.deepEqual(rows.map((r) => r[4]), ['30 days', '365 days', '7 days', 'latest record per host']);
    } finally {
      await look.close();
    }
  });

  it('brings a stream someone changed back to the documented settings and says what changed', async () => {
    const look = await plainOperator(setup, single.urls);
    try {
      await look.jsm.streams.update(STREAMS.journal, { max_age: nanos(86_400_000) });
      const r = await runCli(['broker-setup', ...login, '--json']);
      assert.equal(r.status, 0, r.stderr);
      const steps = JSON.parse(r.stdout) as SetupStep[];
      const journal = steps.find((s) => s.name === STREAMS.journal)!;
      assert.equal(journal.action, 'updated');
      assert.deepEqual(journal.changes, ['max age 1 day → 30 days']);
      assert.deepEqual(steps.filter((s) => s.action !== 'unchanged').map((s) => s.name), [STREAMS.journal], 'only the changed stream is touched');
      assert.equal((await look.jsm.streams.info(STREAMS.journal)).config.max_age, nanos(JOURNAL_MAX_AGE_MS));
    } finally {
      await look.close();
    }
  });

  it('refuses 3 replicas on a single server with the fix, and bad arguments before connecting', async () => {
    const r = await runCli(['broker-setup', ...login, '--replicas', '3']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^nixfleet: the broker at 127\.0\.0\.1:\d+ is a single nats-server, not a cluster, .*give --replicas 1/);
    const look = await plainOperator(setup, single.urls);
    try {
      assert.equal((await look.jsm.streams.info(STREAMS.journal)).config.num_replicas, 1, 'nothing was changed');
    } finally {
      await look.close();
    }
    const bad = await runCli(['broker-setup', ...login, '--replicas', '9']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^nixfleet: broker-setup: --replicas takes a whole number from 1 to 5, not "9"\n$/);
    const hostsFile = await runCli(['broker-setup', '--hosts-file', '/dev/null']);
    assert.equal(hostsFile.status, 2);
    assert.match(hostsFile.stderr, /broker-setup: .*--broker URL and --credentials FILE/);
    const none = await runCli(['broker-setup'], { NIXFLEET_BROKER: '' });
    assert.equal(none.status, 2);
    assert.match(none.stderr, /broker-setup: say which broker: --broker/);
  });

  it('moves the streams and the bucket of a three-node cluster from 1 to 3 replicas', async () => {
    const cluster = await startNats(brokerConfig(path.join(work, 'cluster'), ['h1']), 3);
    const clogin = ['--broker', cluster.urls.join(','), '--credentials', path.join(work, 'cluster', 'operators', 'alice.nk')];
    try {
      // A fresh cluster elects its JetStream leader a few seconds after it listens: retry (bounded).
      let first = await runCli(['broker-setup', ...clogin, '--json']);
      for (let i = 0; i < 60 && first.status !== 0; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        first = await runCli(['broker-setup', ...clogin, '--json']);
      }
      assert.equal(first.status, 0, first.stderr);
      assert.ok((JSON.parse(first.stdout) as SetupStep[]).every((s) => s.action === 'created' && s.replicas === 1));
      const r = await runCli(['broker-setup', ...clogin, '--replicas', '3', '--json']);
      assert.equal(r.status, 0, r.stderr);
      const steps = JSON.parse(r.stdout) as SetupStep[];
      assert.deepEqual(steps.map((s) => [s.name, s.action, s.replicas, s.changes]), Object.keys(STREAM_OF).map((n) => [n, 'updated', 3, ['replicas 1 → 3']]));
      const look = await BrokerClient.connect({ servers: cluster.urls, credentials: readFileSync(path.join(work, 'cluster', 'operators', 'alice.nk'), 'utf8'), name: 'test look' });
      try {
        for (const stream of Object.values(STREAM_OF)) {
          const info = await look.jsm.streams.info(stream);
          assert.equal(info.config.num_replicas, 3, `${stream} has 3 replicas on the server`);
        }
      } finally {
        await look.close();
      }
    } finally {
      await cluster.stop();
    }
  });
});
