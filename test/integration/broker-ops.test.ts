// A host whose agent listens on no port, operated end to end through a real nats-server
// (JetStream): the fleet's status from the KV bucket (home-manager "user@host" too),
// status, generations, switch, rollback to a chosen generation, force rebuild across the
// agent's own restart (journal complete, versions before/after), audit records in the
// audit stream, and the agent's refusal of a credentials file readable by others.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DeliverPolicy } from '@nats-io/jetstream';
import type { OutputLine } from '../../protocol';
import { STREAMS, subjects } from '../../protocol/broker';
import type { BrokerClient } from '../../src/broker/client';
import { FleetStatusWatcher } from '../../src/broker/fleetStatus';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, ROOT, waitFor } from './agent-harness';
import { brokerAgentClient, brokerConfig, operator, startBrokerAgent, startNats, type BrokerAgent, type BrokerSetup, type NatsCluster } from './broker-harness';

let bed: TestBed;
let work: string;
let setup: BrokerSetup;
let nats: NatsCluster;
let alice: BrokerClient;
const agents = new Map<string, BrokerAgent>();

before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }, { name: 'alice@h3', platform: 'home-manager' }] });
  work = mkdtempSync(path.join(tmpdir(), 'nixfleet-broker-'));
  setup = brokerConfig(path.join(work, 'broker'), ['h1', 'alice@h3']);
  nats = await startNats(setup);
  alice = await operator(setup, nats.urls);
  for (const h of ['h1', 'alice@h3']) agents.set(h, await startBrokerAgent(bed, h, nats.urls, setup.hostCredentials(h)));
});
after(async () => {
  for (const a of agents.values()) await a.stop();
  await alice?.close();
  await nats?.stop();
  await bed?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

function assertComplete(lines: OutputLine[], lastSeq: number): void {
  assert.equal(lines.length, lastSeq, 'one line per seq');
  lines.forEach((l, i) => assert.equal(l.seq, i + 1, `line ${i} has seq ${l.seq}`));
}

async function auditRecords(host: string): Promise<Record<string, unknown>[]> {
  const c = await alice.js.consumers.get(STREAMS.audit, { filter_subjects: subjects.audit(host), deliver_policy: DeliverPolicy.All });
  const out: Record<string, unknown>[] = [];
  for (;;) {
    const m = await c.next({ expires: 1000 });
    if (!m) return out;
    out.push(m.json());
  }
}

describe('a host served through the broker alone', () => {
  test('fleet status from the bucket, then status, generations, switch, rollback to a chosen generation', async () => {
    const fleet = await FleetStatusWatcher.start(alice.js);
    try {
      const both = await waitFor('both hosts online in the bucket', () => {
        const l = fleet.list();
        return l.length === 2 && l.every((h) => h.online && h.record.status) && l;
      });
      assert.deepEqual(both.map((h) => [h.host, h.record.status?.platform]), [['alice@h3', 'home-manager'], ['h1', 'nixos']]);
    } finally {
      fleet.close();
    }

    const c = brokerAgentClient(alice, 'h1');
    try {
      const welcome = await c.connect();
      assert.equal(welcome.host, 'h1');
      const status = await c.status();
      assert.equal(status.host, 'h1');
      const h = bed.host('h1');
      // Three generations built through the broker: 24.05.1 (checkout as is), .2, .3.
      const ops: string[] = [];
      for (let i = 1; i <= 3; i++) {
        const rev = i === 1 ? undefined : await bed.setVersion('h1', `24.05.${i}`);
        const op = `bsw-${i}`;
        ops.push(op);
        await c.startOp(op, 'switch', rev ? { rev } : {});
        const { op: info, lines } = await c.follow(op);
        assert.equal(info.state, 'succeeded', info.error);
        assertComplete(lines, info.lastSeq);
      }
      const gens = await c.generations();
      assert.equal(gens.length, 3);
      assert.equal(gens.find((g) => g.current)?.generation, 3);
      await c.startOp('brb-1', 'rollback', { to: 1 });
      const rb = await c.follow('brb-1');
      assert.equal(rb.op.state, 'succeeded', rb.op.error);
      assert.equal(rb.op.result?.generationAfter, 1);
      assert.equal(readlinkSync(h.profile), 'system-1-link');
      assert.equal((await c.status()).currentGeneration, 1);
      await assert.rejects(c.follow('no-such-op'), (e: Error & { code?: string }) => e.code === 'not-found');
      // A second read of a finished op replays the whole journal from the stream.
      const again = await c.follow('bsw-2');
      assertComplete(again.lines, again.op.lastSeq);
      // Every op start is audited (event "started") before its worker runs, then its end.
      const ended = (r: Record<string, unknown>[]) => r.filter((x) => x.op !== undefined && !('event' in x));
      const audit = await waitFor('audit records in the stream', async () => {
        const r = await auditRecords('h1');
        return ended(r).length >= 4 && r;
      });
      assert.deepEqual(
        ended(audit).map((r) => [r.op, r.outcome]),
        [...ops.map((o) => [o, 'succeeded']), ['brb-1', 'succeeded']],
      );
      assert.deepEqual(
        audit.filter((r) => r.event === 'started').map((r) => r.op),
        [...ops, 'brb-1'],
      );
      assert.ok(audit.every((r) => (r.client as { auth?: string }).auth === 'broker'));
    } finally {
      c.close();
    }
  });

  test('force-rebuild whose activation kills the agent: the restarted agent (newer) finishes the story through the broker', async () => {
    const newDist = mkdtempSync(path.join(tmpdir(), 'nixfleet-newagent-'));
    const b = spawnSync(process.execPath, ['scripts/build.mjs', '--only=agent', `--outdir=${newDist}`], { cwd: ROOT, env: { ...process.env, NIXFLEET_BUILD_VERSION: '9.9.9-restarted' }, encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    let agent = agents.get('h1')!;
    const pidFile = path.join(work, 'agent.pid');
    writeFileSync(pidFile, String(agent.proc.pid));
    bed.setHook('h1', `echo "restarting agent"; kill -9 $(cat ${pidFile}); i=1; while [ $i -le 50 ]; do echo "after restart $i"; i=$((i+1)); sleep 0.01; done\n`);
    const c = brokerAgentClient(alice, 'h1');
    try {
      await c.connect();
      await c.startOp('bfr-1', 'force-rebuild', {});
      const all: OutputLine[] = [];
      const done = c.follow('bfr-1', (ls) => all.push(...ls));
      assert.equal(await agent.exited, null); // killed by the activation
      agent = await startBrokerAgent(bed, 'h1', nats.urls, setup.hostCredentials('h1'), { agentJs: path.join(newDist, 'agent.js') });
      agents.set('h1', agent);
      const { op } = await done;
      assert.equal(op.state, 'succeeded', op.error);
      assertComplete(all, op.lastSeq);
      assert.ok(all.some((l) => l.text === 'after restart 50'));
      assert.equal(op.result?.agentVersionAfter, '9.9.9-restarted');
      assert.equal((await c.status()).agentVersion, '9.9.9-restarted');
    } catch (err) {
      console.error('AGENT', agent.stderr());
      throw err;
    } finally {
      bed.setHook('h1', null);
      c.close();
      rmSync(newDist, { recursive: true, force: true });
    }
  });

  test('credentials readable by others, or a broker without them: refused or read-only', async () => {
    const loose = path.join(work, 'loose.nk');
    writeFileSync(loose, readFileSync(setup.hostCredentials('h1')));
    chmodSync(loose, 0o644);
    const r = spawnSync(process.execPath, [AGENT_JS, 'serve', '--config', bed.writeConfig('h1', { listen: null, broker: nats.urls, brokerCredentials: loose })], { env: bed.env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /brokerCredentials .*loose\.nk is readable by group or others \(mode 644\); run: chmod 600/);
    const bad = spawnSync(process.execPath, [AGENT_JS, 'status', '--config', bed.writeConfig('h1', { broker: 'http://x:1' })], { env: bed.env, encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /broker must be nats:\/\/HOST\[:PORT\] or tls:\/\/HOST\[:PORT\]/);
  });
});
