// A site behind its own broker: the agent dials a nats-server leaf node on its site (its
// host credentials checked there, against the same accounts), the leaf node keeps one
// outbound leafnode connection to the hub, and JetStream (the status bucket, the journal
// stream) lives on the hub only. A controller connected to the hub sees the host's status
// and runs a switch on it, with its journal read from the hub's stream. Debian's nats-server
// 2.9.10 is enough (2.10 behaves the same): the hub's JetStream has a domain ("hub"), and the
// leaf's account maps $JS.API.> and the status bucket's $KV subjects to $JS.hub.API.… —
// without the mapping the leaf answers "jetstream is not enabled" and key-value writes find
// no responder. Everything is real: nats-server, the agent with listen null, real Nix.
// docs/broker.md "Growing past one broker" describes the layout.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { BrokerClient } from '../../src/broker/client';
import { STATUS_BUCKET } from '../../protocol/broker';
import { FleetStatusWatcher } from '../../src/broker/fleetStatus';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, waitFor } from './agent-harness';
import { brokerAgentClient, brokerConfig, freePort, operator, startBrokerAgent, startNats, type BrokerAgent, type BrokerSetup, type NatsCluster } from './broker-harness';
import { profileGeneration } from './cli-harness';

const execFileP = promisify(execFile);

describe('an agent on a leaf node, operated from the hub', { skip: !existsSync(AGENT_JS) && 'dist/ missing: run npm run build' }, () => {
  let bed: TestBed;
  let work: string;
  let setup: BrokerSetup;
  let hub: NatsCluster;
  let leaf: NatsCluster;
  let alice: BrokerClient;
  let agent: BrokerAgent;

  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    await execFileP('nix-env', ['-p', bed.host('h1').profile, '--set', await bed.build('h1', bed.workstation)], { env: bed.env });
    work = mkdtempSync(path.join(tmpdir(), 'nixfleet-broker-leaf-'));
    setup = brokerConfig(path.join(work, 'hub'), ['h1']);
    const leafPort = await freePort();
    // The site's leaf node logs in to the hub as its own user, bound to the NIXFLEET account.
    const sitePassword = randomBytes(18).toString('base64url');
    hub = await startNats(setup, 1, { jetstream: { store_dir: path.join(work, 'hub-js'), domain: 'hub' }, leafnodes: { host: '127.0.0.1', port: leafPort, authorization: { users: [{ user: 'site1', password: sitePassword, account: 'NIXFLEET' }] } } });
    // The leaf node: the same accounts (hosts log in with the same credentials at their site),
    // no JetStream of its own, one remote to the hub.
    const base = JSON.parse(readFileSync(path.join(setup.dir, 'nats-server.conf'), 'utf8').replace(/^#.*\n/, '')) as { accounts: Record<string, Record<string, unknown>> };
    const accounts = structuredClone(base.accounts);
    // The JetStream API of the account is the hub's: clients at the site use it unchanged.
    // The hub's JetStream (domain "hub") is reached under $JS.hub.API; key-value writes too
    // ($KV.… subjects do not cross a leafnode connection as they are). Permissions are
    // checked on the mapped subject: each user may publish the mapped form of what it may
    // publish now, and nothing else.
    for (const a of Object.values(accounts)) {
      delete a.jetstream;
      a.mappings = { '$JS.API.>': '$JS.hub.API.>', [`$KV.${STATUS_BUCKET}.>`]: `$JS.hub.API.$KV.${STATUS_BUCKET}.>` };
      for (const u of a.users as { permissions?: { publish?: { allow?: string[] } } }[]) {
        const allow = u.permissions?.publish?.allow;
        if (!allow) continue;
        allow.push(...allow.filter((s) => s.startsWith('$JS.API.')).map((s) => s.replace('$JS.API.', '$JS.hub.API.')));
        allow.push(...allow.filter((s) => s.startsWith('$KV.')).map((s) => `$JS.hub.API.${s}`));
      }
    }
    const leafDir = path.join(work, 'site1');
    mkdirSync(leafDir);
    copyFileSync(path.join(setup.dir, 'nats-server.conf'), path.join(leafDir, 'nats-server.conf'));
    leaf = await startNats({ ...setup, dir: leafDir }, 1, {
      server_name: 'site1',
      jetstream: undefined,
      accounts,
      leafnodes: { remotes: [{ url: `nats-leaf://site1:${sitePassword}@127.0.0.1:${leafPort}`, account: 'NIXFLEET' }] },
    });
    await waitFor('the leaf node to connect to the hub', () => /Leafnode connection created/i.test(hub.nodes[0]!.log()) || /Leafnode connection created/i.test(leaf.nodes[0]!.log()), 30_000);
    alice = await operator(setup, hub.urls);
    agent = await startBrokerAgent(bed, 'h1', leaf.urls, setup.hostCredentials('h1'));
  });

  after(async () => {
    await agent?.stop();
    await alice?.close();
    await leaf?.stop();
    await hub?.stop();
    await bed?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the hub sees the host online with its status, and a switch through the hub runs on it with every journal line', async () => {
    const fleet = await FleetStatusWatcher.start(alice.js);
    try {
      const h = await waitFor('h1 online in the hub status bucket', () => (fleet.get('h1')?.online && fleet.get('h1')?.record.status ? fleet.get('h1') : undefined), 60_000);
      assert.equal(h.record.status?.currentGeneration, profileGeneration(bed.host('h1').profile));
    } finally {
      fleet.close();
    }
    assert.match(agent.stderr(), new RegExp(`connected to broker (nats://)?127\\.0\\.0\\.1:${leaf.nodes[0]!.port} as host h1`), 'the agent dialled its site, not the hub');

    const rev = await bed.setVersion('h1', '24.05.31');
    const before = profileGeneration(bed.host('h1').profile);
    const c = brokerAgentClient(alice, 'h1', 'hub-controller');
    try {
      await c.connect();
      await c.startOp('leaf-switch', 'switch', { rev });
      const { op, lines } = await c.follow('leaf-switch');
      assert.equal(op.state, 'succeeded', op.error);
      assert.deepEqual(lines.map((l) => l.seq), Array.from({ length: op.lastSeq }, (_, i) => i + 1), 'every journal line once, in order');
      assert.equal(op.result?.generationAfter, before + 1);
    } finally {
      c.close();
    }
    assert.equal(profileGeneration(bed.host('h1').profile), before + 1, 'the profile link moved on disk');
    assert.equal(realpathSync(bed.host('h1').profile), bed.activations('h1').at(-1)!.storePath);
    assert.match(bed.activations('h1').at(-1)!.storePath, /24\.05\.31/);
  });
});
