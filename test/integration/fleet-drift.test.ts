// The Fleet view tells the truth (issue 11, item 4), against real agents (dist/agent.js) on the
// real-Nix test bed with real git: drift after a failed deploy, after a rollback and after a
// manual `nix-env --set` (the profile moved, nothing activated), each cleared only when the
// host is healthy again; the checkout's last fetch time; build counts on the host row.
// Hosts' running system is the bed's current-system link, which the activation scripts move.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, startAgent, waitFor, type RunningAgent } from './agent-harness';
import { git } from './deploy-fixtures';
import type { Fleet } from '../../src/fleet/fleet';
import { hostDrift } from '../../src/fleet/drift';
import type { HostEntry } from '../../src/fleet/hostConfig';
import { statusRows } from '../../src/fleet/statusRows';
import { summarise } from '../../src/fleet/summary';
import { readWorkspaceInfo } from '../../src/fleet/workspace';
import { fleetAgents } from '../../src/deploy/fleetAgents';
import { planDeploy } from '../../src/deploy/plan';
import { runDeploy } from '../../src/deploy/run';
import { agentFleet, profileGeneration } from './fleet-harness';

const execFileP = promisify(execFile);
const HOSTS = ['h1', 'h2', 'h3'];


/** agent-harness's waitFor, with this file's longer default (drift needs a refresh after an op). */
const until = <T>(what: string, fn: () => T | undefined | false, timeoutMs = 30_000): Promise<T> => waitFor(what, fn, timeoutMs);

describe('drift in the Fleet view, against real agents', { skip: !existsSync(AGENT_JS) && 'dist/agent.js missing: run npm run build' }, () => {
  let bed: TestBed;
  let fleet: Fleet;
  const agents = new Map<string, RunningAgent>();
  const kinds = (h: string) => hostDrift(fleet.host(h)!, fleet.workspace).map((d) => d.kind);
  const row = (h: string, kind: string) => statusRows(fleet.host(h)!, fleet.workspace).find((r) => r.kind === kind)!;
  /** Refresh (status, generations, ops) and the workspace, as the view does after an op. */
  const refresh = async () => {
    fleet.setWorkspace(await readWorkspaceInfo(bed.workstation));
    await fleet.refresh();
  };

  before(async () => {
    bed = await createTestBed({ hosts: HOSTS.map((name) => ({ name, platform: 'nixos' as const })) });
    for (const h of HOSTS) agents.set(h, await startAgent(bed, h));
    const entries: HostEntry[] = HOSTS.map((h) => ({ name: h, address: agents.get(h)!.url, platform: 'nixos' as const }));
    fleet = agentFleet('drift-test', async () => bed.token, { connectWaitMs: 10_000 });
    fleet.configure(entries, [], []);
    fleet.setWorkspace(await readWorkspaceInfo(bed.workstation));
    await fleet.start();
    for (const h of HOSTS) await until(`${h} online`, () => fleet.host(h)?.connection === 'online' && fleet.host(h)!.status);
  });

  after(async () => {
    fleet?.dispose();
    await Promise.all([...agents.values()].map((a) => a.stop()));
    await bed?.cleanup();
  });

  it('a first switch: the running system is the profile\'s generation, build counts show while it builds, and no drift after', async () => {
    const building: string[] = [];
    const off = fleet.onDidChange.on(() => {
      const b = fleet.host('h1')?.building;
      if (b) building.push(`${b.progress.built}/${b.progress.toBuild}`);
    });
    for (const h of HOSTS) {
      const op = await fleet.runOp(h, 'switch', {});
      assert.equal(op.state, 'succeeded', op.error);
    }
    off();
    await refresh();
    // The system derivation (and its package derivations) really built: counts went up to done.
    assert.ok(building.length > 0, 'the host row had build counts while h1 built');
    assert.match(building.at(-1)!, /^(\d+)\/\1$/, `last counts: ${building.join(' ')}`);
    assert.equal(fleet.host('h1')!.building, undefined, 'the counts go when the op ends');
    for (const h of HOSTS) {
      const s = fleet.host(h)!;
      assert.deepEqual(s.status!.runningSystem, { path: realpathSync(bed.host(h).runningSystem), generation: profileGeneration(bed.host(h).profile) });
      assert.deepEqual(kinds(h), [], `${h}: ${hostDrift(s, fleet.workspace).map((d) => d.short).join(', ')}`);
      assert.equal(row(h, 'system').level, 'ok', row(h, 'system').value);
      assert.equal(row(h, 'lock').level, 'unknown', 'the bed flake has no flake.lock');
    }
    assert.equal(summarise(fleet.hosts()).text, '3/3 online');
  });

  it('the Git row says when the checkout last fetched; a pull moves it', async () => {
    const checkout = bed.host('h1').checkout;
    const before = Date.now();
    const op = await fleet.runOp('h1', 'pull', {});
    assert.equal(op.state, 'succeeded', op.error);
    await refresh();
    const fetchedAt = fleet.host('h1')!.status!.checkout!.fetchedAt!;
    // The time is FETCH_HEAD's, which the pull just wrote (mtime, so not before the pull began, to the second).
    assert.equal(fetchedAt, new Date(statSync(path.join(checkout, '.git', 'FETCH_HEAD')).mtimeMs).toISOString());
    assert.ok(Date.parse(fetchedAt) >= Math.floor(before / 1000) * 1000, `${fetchedAt} is the pull's fetch`);
    assert.equal(row('h1', 'git').value.split(' · ')[1], `up to date with origin (fetched ${new Date(fetchedAt).toTimeString().slice(0, 5)})`);
  });

  it('a failed deploy: the host shows "switch failed" until a later switch succeeds with passing checks', async () => {
    const rev = await bed.setVersion('h1', '24.05.9');
    await refresh();
    const genBefore = profileGeneration(bed.host('h1').profile);
    bed.setFail('h1', true);
    const record = planDeploy({ target: { commit: rev }, hosts: ['h1'], who: 'drift-test' });
    const res = await runDeploy({ agents: fleetAgents(fleet), record });
    bed.setFail('h1', false);
    assert.equal(res.state, 'failed');
    await refresh();
    const s = fleet.host('h1')!;
    // The agent put generation genBefore back and re-activated it: what runs is the profile's.
    assert.equal(profileGeneration(bed.host('h1').profile), genBefore);
    assert.equal(s.status!.runningSystem!.generation, genBefore);
    assert.equal(s.lastOutcome?.state, 'failed');
    assert.equal(s.lastOutcome?.kind, 'switch');
    const d = hostDrift(s, fleet.workspace);
    assert.equal(d[0]!.kind, 'op-failed', d.map((x) => x.short).join(', '));
    assert.equal(d[0]!.short, 'switch failed');
    assert.match(d[0]!.detail, /activation of generation \d+ failed/);
    assert.deepEqual(d[0]!.fix, { command: 'nixfleet.switch', title: 'Switch', args: { host: 'h1' } });
    // The agent also put the checkout back where it was: not the workspace's commit, and that is said too.
    assert.deepEqual(kinds('h1'), ['op-failed', 'checkout']);
    assert.match(summarise(fleet.hosts()).tooltip, /failing: h1 \(switch failed\)/);
    // A new connection (another window, after a reload) reads the same from the agent's op records.
    const other = agentFleet('drift-test-2', async () => bed.token, { connectWaitMs: 10_000 });
    try {
      other.configure([{ name: 'h1', address: agents.get('h1')!.url, platform: 'nixos' }], [], []);
      await other.start();
      const seen = await until('h1 refreshed in the other window', () => other.host('h1')?.status && other.host('h1'));
      await other.refresh('h1');
      assert.equal(other.host('h1')!.lastOutcome?.op, s.lastOutcome!.op, `other window: ${JSON.stringify(seen.lastOutcome)}`);
    } finally {
      other.dispose();
    }
    // A pull is not a fix for a failed switch; now the system is the one not at the workspace's commit.
    assert.equal((await fleet.runOp('h1', 'pull', {})).state, 'succeeded');
    await refresh();
    assert.deepEqual(kinds('h1'), ['op-failed', 'system-commit']);
    // Fixed and switched again: healthy.
    const again = await fleet.runOp('h1', 'switch', {});
    assert.equal(again.state, 'succeeded', again.error);
    await refresh();
    assert.deepEqual(kinds('h1'), []);
  });

  it('a rollback: "rolled back to gen N" stays until Run Tests passes', async () => {
    const genBefore = profileGeneration(bed.host('h2').profile);
    await bed.setVersion('h2', '24.05.9');
    assert.equal((await fleet.runOp('h2', 'pull', {})).state, 'succeeded');
    assert.equal((await fleet.runOp('h2', 'switch', {})).state, 'succeeded');
    const rb = await fleet.runOp('h2', 'rollback', { to: genBefore });
    assert.equal(rb.state, 'succeeded', rb.error);
    await refresh();
    const d = hostDrift(fleet.host('h2')!, fleet.workspace);
    assert.equal(d[0]!.kind, 'undone', d.map((x) => x.short).join(', '));
    assert.equal(d[0]!.short, `rolled back to gen ${genBefore}`);
    assert.equal(d[0]!.fix?.command, 'nixfleet.runTests');
    // Rolled back to an older commit's system while the checkout has the new one.
    assert.ok(kinds('h2').includes('system-commit'));
    assert.equal(fleet.host('h2')!.status!.runningSystem!.generation, genBefore);
    const tests = await fleet.runOp('h2', 'test', {});
    assert.equal(tests.state, 'succeeded', tests.error);
    await refresh();
    assert.ok(!kinds('h2').includes('undone'), kinds('h2').join(', '));
  });

  it('nix-env --set on the host: it runs the old generation, the profile points at a new one, tests never ran on it', async () => {
    const running = profileGeneration(bed.host('h3').profile);
    await bed.setVersion('h3', '24.05.7');
    await git(bed.host('h3').checkout, 'pull', '-q', '--ff-only', 'origin', 'main');
    const storePath = await bed.build('h3');
    await execFileP('nix-env', ['-p', bed.host('h3').profile, '--set', storePath], { env: bed.env });
    await refresh();
    const s = fleet.host('h3')!;
    assert.equal(s.status!.currentGeneration, running + 1);
    assert.equal(s.status!.runningSystem!.generation, running);
    const d = hostDrift(s, fleet.workspace);
    assert.deepEqual(d.map((x) => x.kind).slice(0, 2), ['not-running-profile', 'tests-not-run']);
    assert.equal(d[0]!.short, `runs gen ${running}, profile at ${running + 1}`);
    assert.deepEqual(d[0]!.fix, { command: 'nixfleet.rollback', title: `Rollback to ${running}`, args: { host: 'h3', generation: running } });
    assert.equal(row('h3', 'system').value, `runs generation ${running}, profile at generation ${running + 1}`);
    assert.equal(row('h3', 'system').level, 'error');
    assert.equal(row('h3', 'tests').value, `not run on generation ${running + 1}`);
    // Activating the profile's generation (a switch of the same commit) ends the drift.
    const sw = await fleet.runOp('h3', 'switch', {});
    assert.equal(sw.state, 'succeeded', sw.error);
    await refresh();
    assert.deepEqual(kinds('h3'), []);
    assert.equal(realpathSync(bed.host('h3').runningSystem), storePath);
  });
});
