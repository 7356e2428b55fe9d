// The extension's fleet core on a broker, wired as the Container wires it (BrokerDiscovery
// → Fleet.configure/recorded, sessions from openFleetSession), against a real nats-server
// and real agents that listen on no port: the bucket's hosts join the flake's, rows are live
// from the bucket (before any session, and when an agent stops and comes back), a switch
// runs over the broker from the Fleet, and two fleets (two windows) on the same broker see
// the same running op and the same log, line for line. A deploy shows a host that is offline
// as `queued` (its switch waits in the broker), then its real outcome; an expired one as
// not attempted, with nothing run.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { OpInfo, OutputLine } from '../../protocol';
import type { BrokerClient } from '../../src/broker/client';
import { brokerOfflineQueue } from '../../src/broker/deployQueue';
import { BROKER_SOURCE, BrokerDiscovery, openFleetSession } from '../../src/broker/discoverySource';
import { fleetAgents } from '../../src/deploy/fleetAgents';
import { planDeploy } from '../../src/deploy/plan';
import { runDeploy } from '../../src/deploy/run';
import { summarizeDeploy } from '../../src/deploy/summary';
import type { HostOutcome } from '../../src/deploy/types';
import type { DiscoveredHost } from '../../src/fleet/discovery';
import { Fleet } from '../../src/fleet/fleet';
import type { HostEntry } from '../../src/fleet/hostConfig';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, waitFor } from './agent-harness';
import { brokerConfig, operator, startBrokerAgent, startNats, type BrokerAgent, type BrokerSetup, type NatsCluster } from './broker-harness';

const execFileP = promisify(execFile);
const generationOf = (profile: string) => Number(/-(\d+)-link$/.exec(readlinkSync(profile))![1]);

/** One window's fleet: settings entries + the flake's hosts + the broker's, as Container.loadHosts merges them. */
interface Window {
  fleet: Fleet;
  broker: BrokerDiscovery;
  output: Map<string, OutputLine[]>;
  ended: Map<string, OpInfo>;
  close(): Promise<void>;
}

function openWindow(setup: BrokerSetup, urls: string[], operatorName: string, entries: HostEntry[], flake: DiscoveredHost[]): Window {
  let broker: BrokerDiscovery;
  const fleet = new Fleet({
    openSession: (entry, endpoint, token) => openFleetSession({ entry, endpoint, token, clientName: `vscode ${operatorName}@test`, clientVersion: '1', broker: () => broker, requestTimeoutMs: 30_000 }),
    getToken: async () => undefined,
    connectWaitMs: 20_000,
    refreshDelayMs: 20,
  });
  // As the Container: settings and flake once, the broker as its own source whenever it changes.
  fleet.configure(entries, flake, []);
  const load = () => fleet.setSource(BROKER_SOURCE, broker.sourceHosts(), broker.problem ? [broker.problem] : []);
  broker = new BrokerDiscovery({
    servers: urls,
    credentials: readFileSync(setup.operatorCredentials(operatorName), 'utf8'),
    clientName: `vscode ${operatorName}@test`,
    onHostsChanged: load,
    onRecord: (host, r) => fleet.recorded(host, r),
    retry: { initialDelayMs: 200, maxDelayMs: 1000 },
  });
  load();
  const output = new Map<string, OutputLine[]>();
  const ended = new Map<string, OpInfo>();
  fleet.onOutput.on((e) => output.set(e.op, [...(output.get(e.op) ?? []), ...e.lines]));
  fleet.onOpEnd.on((e) => ended.set(e.op.id, e.op));
  return {
    fleet,
    broker,
    output,
    ended,
    async close() {
      fleet.dispose();
      await broker.close();
    },
  };
}

describe('the fleet core on a NATS broker', { skip: !existsSync(AGENT_JS) && 'dist/agent.js missing: run npm run build' }, () => {
  let bed: TestBed;
  let work: string;
  let setup: BrokerSetup;
  let nats: NatsCluster;
  let admin: BrokerClient;
  const agents = new Map<string, BrokerAgent>();
  let alice: Window;
  let bob: Window | undefined;

  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }, { name: 'h2', platform: 'nixos' }] });
    for (const h of ['h1', 'h2']) {
      const storePath = await bed.build(h, bed.workstation);
      await execFileP('nix-env', ['-p', bed.host(h).profile, '--set', storePath], { env: bed.env });
    }
    work = mkdtempSync(path.join(tmpdir(), 'nixfleet-broker-fleet-'));
    setup = brokerConfig(path.join(work, 'broker'), ['h1', 'h2']);
    nats = await startNats(setup);
    admin = await operator(setup, nats.urls);
    for (const h of ['h1', 'h2']) agents.set(h, await startBrokerAgent(bed, h, nats.urls, setup.hostCredentials(h)));
  });
  after(async () => {
    await bob?.close();
    await alice?.close();
    await Promise.all([...agents.values()].map((a) => a.stop()));
    await admin?.close();
    await nats?.stop();
    await bed?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it("merges the bucket's hosts with the flake's, online from the bucket before any session opens", async () => {
    // h1 is in the flake too; h2 only in the bucket; h9 only in the flake (no agent anywhere).
    const flake: DiscoveredHost[] = [
      { name: 'h1', platform: 'nixos', attribute: 'nixosConfigurations' },
      { name: 'h9', platform: 'nixos', attribute: 'nixosConfigurations' },
    ];
    alice = openWindow(setup, nats.urls, 'alice', [], flake);
    assert.deepEqual(alice.fleet.hosts().map((h) => [h.name, h.connection]), [['h1', 'unconfigured'], ['h9', 'unconfigured']], 'before the broker answers: the flake only');
    await alice.broker.start();
    assert.equal(alice.broker.problem, undefined);
    const rows = await waitFor('both agents online in the bucket', () => {
      const hs = alice.fleet.hosts();
      return hs.filter((h) => h.connection === 'online').length === 2 && hs;
    });
    assert.deepEqual(rows.map((h) => [h.name, h.entry?.address ?? null, h.discoveredIn ?? null, h.connection]), [
      ['h1', 'broker', 'nixosConfigurations', 'online'],
      ['h2', 'broker', null, 'online'],
      ['h9', null, 'nixosConfigurations', 'unconfigured'],
    ]);
    assert.equal(alice.fleet.isStarted, false, 'no session was opened: the rows come from the bucket');
    for (const h of ['h1', 'h2']) assert.equal(alice.fleet.host(h)!.status?.currentGeneration, generationOf(bed.host(h).profile), `${h}'s generation from its record`);
  });

  it('runs a switch over the broker from the Fleet, every journal line once, and the row follows', async () => {
    await alice.fleet.start();
    const before = generationOf(bed.host('h1').profile);
    await bed.setVersion('h1', '24.05.9');
    await execFileP('git', ['pull', '-q', '--ff-only', 'origin', 'main'], { cwd: bed.host('h1').checkout, env: bed.env });
    const op = await alice.fleet.runOp('h1', 'switch', {});
    assert.equal(op.state, 'succeeded', op.error);
    assert.equal(generationOf(bed.host('h1').profile), before + 1, 'the profile on disk moved');
    const lines = alice.output.get(op.id) ?? [];
    assert.deepEqual(lines.map((l) => l.seq), Array.from({ length: op.lastSeq }, (_, i) => i + 1), 'every line once, in order');
    await waitFor("h1's row shows the new generation", () => alice.fleet.host('h1')?.status?.currentGeneration === before + 1);
    assert.equal(alice.fleet.host('h1')!.connection, 'online');
  });

  it('follows the bucket live: an agent that stops goes offline with the reason, and comes back', async () => {
    await agents.get('h2')!.stop();
    const down = await waitFor('h2 offline', () => alice.fleet.host('h2')?.connection === 'offline' && alice.fleet.host('h2'), 30_000);
    await waitFor("the bucket's reason", () => /host h2 is offline: its agent stopped at .*; start it again/.test(alice.fleet.host('h2')?.problem ?? ''), 30_000);
    assert.equal(down.status?.currentGeneration, generationOf(bed.host('h2').profile), 'the last known generation stays');
    agents.set('h2', await startBrokerAgent(bed, 'h2', nats.urls, setup.hostCredentials('h2')));
    await waitFor('h2 online again', () => alice.fleet.host('h2')?.connection === 'online', 30_000);
    // And operable again through a fresh session (not only shown online).
    const s = await alice.fleet.session('h2');
    assert.equal((await s.status()).host, 'h2');
  });

  it('two windows on the same broker see the same running op and its log', async () => {
    bob = openWindow(setup, nats.urls, 'bob', [], []);
    await bob.broker.start();
    await bob.fleet.start();
    await waitFor("bob's h1 session online", () => bob!.fleet.host('h1')?.connection === 'online' && bob!.fleet.host('h1')?.status);
    const release = path.join(work, 'release');
    bed.setHook('h1', `i=1; while [ $i -le 200 ]; do echo "line $i"; i=$((i+1)); done; n=0; while [ ! -e ${release} ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; echo released\n`);
    try {
      const running = alice.fleet.runOp('h1', 'switch', {}, { opId: 'two-windows-1' });
      const seen = await waitFor("bob's window shows alice's op running", () => bob!.fleet.host('h1')?.runningOps.find((o) => o.id === 'two-windows-1'), 30_000);
      assert.equal(seen.kind, 'switch');
      assert.equal(seen.client.name, 'vscode alice@test', 'started by the other window');
      await waitFor('both windows have the activation output', () => [alice, bob!].every((w) => (w.output.get('two-windows-1') ?? []).some((l) => l.text === 'line 200')), 30_000);
      // One mutating op per host across windows: bob's switch is refused while alice's runs.
      await assert.rejects(bob.fleet.runOp('h1', 'switch', {}), /busy/);
      writeFileSync(release, '');
      const op = await running;
      assert.equal(op.state, 'succeeded', op.error);
      const bobEnd = await waitFor("bob's window saw the op end", () => bob!.ended.get('two-windows-1'), 30_000);
      assert.equal(bobEnd.state, 'succeeded');
      const a = alice.output.get('two-windows-1')!;
      assert.equal(a.length, op.lastSeq);
      assert.deepEqual(bob.output.get('two-windows-1'), a, 'the same log, line for line');
      await waitFor("bob's row shows h1 free again", () => bob!.fleet.host('h1')?.runningOps.length === 0);
    } finally {
      bed.setHook('h1', null);
    }
  });

  it('a deploy shows an offline host as queued, then its real outcome; one that expired in the queue ran nothing', async () => {
    const stopH2 = async () => {
      await agents.get('h2')!.stop();
      await waitFor('h2 offline in the bucket', () => alice.fleet.host('h2')?.connection === 'offline' && /agent stopped/.test(alice.fleet.host('h2')?.problem ?? ''), 30_000);
    };
    const deployTo = (rev: string, expiresInMs?: number) => {
      const record = planDeploy({ target: { commit: rev }, hosts: ['h1', 'h2'], parallelism: 2, who: 'alice@test' });
      const h2Outcomes: HostOutcome[] = [];
      const agentsOverBroker = fleetAgents(alice.fleet, brokerOfflineQueue(() => alice.broker, 'vscode alice@test', expiresInMs === undefined ? {} : { expiresInMs }));
      const done = runDeploy({
        agents: agentsOverBroker,
        record,
        onEvent: (e) => {
          if (e.type === 'host' && e.host.host === 'h2' && h2Outcomes.at(-1) !== e.host.outcome) h2Outcomes.push(e.host.outcome);
        },
      });
      const h = (name: string) => record.hosts.find((x) => x.host === name)!;
      return { record, done, h2Outcomes, h };
    };

    await stopH2();
    const before = generationOf(bed.host('h2').profile);
    const rev = await bed.setVersion('h2', '24.05.7');
    const d = deployTo(rev);
    await waitFor('h1 switched and h2 queued', () => d.h('h1').outcome === 'succeeded' && d.h('h2').outcome === 'queued' && d.h('h2').queued, 120_000);
    assert.equal(d.record.state, 'running', 'the deploy waits for the queued host');
    assert.equal(d.h('h2').generationBefore, before, "the generation to return to, from the bucket's last record");
    const summary = summarizeDeploy(d.record);
    assert.match(summary.rows.find((r) => r.host === 'h2')!.label, /^queued \(host offline\): runs when it is back, until \d{4}-\d\d-\d\dT/);
    assert.match(summary.headline, /\(1 offline, queued until it is back\)$/);
    assert.equal(generationOf(bed.host('h2').profile), before, 'nothing ran while h2 was offline');
    agents.set('h2', await startBrokerAgent(bed, 'h2', nats.urls, setup.hostCredentials('h2')));
    const record = await d.done;
    assert.equal(record.state, 'succeeded', JSON.stringify(record.hosts.map((h) => [h.host, h.outcome, h.error])));
    assert.deepEqual(d.h2Outcomes, ['pending', 'queued', 'running', 'succeeded'], 'queued, then running when it was back, then its real outcome');
    assert.equal(d.h('h2').generationAfter, before + 1);
    assert.equal(generationOf(bed.host('h2').profile), before + 1, 'the profile on disk moved when h2 came back');
    await waitFor('h2 online again', () => alice.fleet.host('h2')?.connection === 'online', 30_000);

    // Queued with an expiry already past when the host comes back: recorded, not run.
    await stopH2();
    const rev2 = await bed.setVersion('h2', '24.05.8');
    const e = deployTo(rev2, 1);
    await waitFor('h2 queued again', () => e.h('h2').outcome === 'queued' && e.h('h2').queued, 120_000);
    agents.set('h2', await startBrokerAgent(bed, 'h2', nats.urls, setup.hostCredentials('h2')));
    const expired = await e.done;
    assert.equal(expired.state, 'failed');
    assert.equal(e.h('h2').outcome, 'not-attempted');
    assert.equal(e.h('h2').switchStarted, false, 'nothing to roll back on it');
    assert.match(e.h('h2').error ?? '', /expired in the queue at .* before host h2 could run it; nothing ran/);
    assert.equal(generationOf(bed.host('h2').profile), before + 1, 'the expired switch did not run');
    assert.deepEqual(e.h2Outcomes, ['pending', 'queued', 'not-attempted']);
  });
});
