// Ops for a host that is offline: queued durably in the broker, run when the host comes
// back if not expired (one at a time: the second meets the first's host lock and waits),
// recorded as expired (nothing ran) otherwise. Offline is seen from the status bucket:
// at once after a clean stop, after the stated silence after kill -9.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { STREAMS } from '../../protocol/broker';
import type { BrokerClient } from '../../src/broker/client';
import { FleetStatusWatcher } from '../../src/broker/fleetStatus';
import { followJournal } from '../../src/broker/journal';
import { queueOp } from '../../src/broker/queue';
import { readAudit } from '../../agent/journal/audit';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { waitFor } from './agent-harness';
import { brokerConfig, operator, startBrokerAgent, startNats, type BrokerSetup, type NatsCluster } from './broker-harness';

let bed: TestBed;
let work: string;
let setup: BrokerSetup;
let nats: NatsCluster;
let alice: BrokerClient;

before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  work = mkdtempSync(path.join(tmpdir(), 'nixfleet-broker-q-'));
  setup = brokerConfig(path.join(work, 'broker'), ['h1']);
  nats = await startNats(setup);
  alice = await operator(setup, nats.urls);
});
after(async () => {
  await alice?.close();
  await nats?.stop();
  await bed?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

test('an offline host runs its queued ops when it is back, in order, and records an expired one without running it', async () => {
  // Silence longer than one heartbeat (10 s) reads as offline here; the default is 35 s.
  const fleet = await FleetStatusWatcher.start(alice.js, { offlineAfterMs: 12_000 });
  let agent = await startBrokerAgent(bed, 'h1', nats.urls, setup.hostCredentials('h1'));
  try {
    await waitFor('h1 online', () => fleet.get('h1')?.online);
    await agent.kill9();
    await waitFor('h1 offline after its heartbeats stopped', () => fleet.get('h1')?.online === false, 40_000);
    const activations = bed.activations('h1').length;
    const rev = await bed.setVersion('h1', '24.05.2');
    const q = (op: string, params: Record<string, unknown>, expiresInMs?: number) => queueOp(alice.js, 'h1', { op, kind: 'switch', params, client: 'queue-test', ...(expiresInMs ? { expiresInMs } : {}) });
    await q('q-expired', {}, 1);
    await q('q-1', {});
    await q('q-1', {}); // a retry: the same op id is stored once
    await q('q-2', { rev });
    assert.equal((await alice.jsm.streams.info(STREAMS.queue)).state.messages, 3);
    assert.equal(existsSync(path.join(bed.host('h1').stateDir, 'ops', 'q-1')), false, 'nothing runs while the host is offline');

    const outcomes = ['q-expired', 'q-1', 'q-2'].map((op) => followJournal(alice.js, 'h1', op, () => {}));
    agent = await startBrokerAgent(bed, 'h1', nats.urls, setup.hostCredentials('h1'));
    const [expired, first, second] = await Promise.all(outcomes.map((o) => o.done));
    assert.equal(expired!.state, 'cancelled');
    assert.equal(expired!.result?.expired, true);
    assert.match(expired!.error ?? '', /^switch q-expired expired in the queue at .* before host h1 could run it; nothing ran/);
    assert.equal(first!.state, 'succeeded', first!.error);
    assert.equal(second!.state, 'succeeded', second!.error);
    assert.equal(second!.result?.generationBefore, first!.result?.generationAfter);
    assert.equal(second!.result?.revision, rev);
    assert.ok(Date.parse(second!.startedAt) >= Date.parse(first!.endedAt!), 'the second waited for the host lock');
    assert.equal(bed.activations('h1').length, activations + 2, 'both switches ran, the expired op did not');
    assert.deepEqual(
      readAudit(bed.host('h1').stateDir).filter((r) => r.op.startsWith('q-')).map((r) => [r.op, r.outcome]),
      [['q-expired', 'cancelled'], ['q-1', 'succeeded'], ['q-2', 'succeeded']],
    );
    await waitFor('the queue emptied (each op acknowledged)', async () => (await alice.jsm.streams.info(STREAMS.queue)).state.messages === 0);
    // A clean stop says offline at once, without waiting for silence.
    await agent.stop();
    await waitFor('h1 offline after a clean stop', () => fleet.get('h1')?.online === false && fleet.get('h1')?.record.online === false, 5_000);
  } finally {
    fleet.close();
    await agent.stop();
  }
});
