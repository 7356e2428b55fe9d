// Deploy, Revert PR and Rollback Deployed Hosts end to end: real agents (dist/agent.js) on
// the real-Nix test bed, a PR branch merged into main with --no-ff in the bed's bare
// origin, the GitHub test server over that origin with the real Octokit client. Outcomes
// are checked on disk: profile links, activation logs, trees in the origin.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { GitHubTestServer, type TestUser } from '../fixtures/githubTestServer';
import { AGENT_JS, startAgent, type RunningAgent } from './agent-harness';
import { git } from './deploy-fixtures';
import { openAgentSession } from '../../src/fleet/agentSession';
import { Fleet } from '../../src/fleet/fleet';
import type { HostEntry } from '../../src/fleet/hostConfig';
import { AuditLog } from '../../src/deploy/audit';
import { DeployService } from '../../src/deploy/service';
import { fleetAgents } from '../../src/deploy/fleetAgents';
import { planDeploy } from '../../src/deploy/plan';
import { runDeploy } from '../../src/deploy/run';
import { describeRollback, markReverted, rollbackDeployedHosts } from '../../src/deploy/undo';
import type { DeployEvent } from '../../src/deploy/types';
import { createGitHubClient, gitHubLogin } from '../../src/github/client';
import { revertPullRequest } from '../../src/github/revert';
import { agentFleet, profileGeneration } from './fleet-harness';

const execFileP = promisify(execFile);
const HOSTS = ['h1', 'h2', 'h3', 'h4'];
const alice: TestUser = { login: 'alice', id: 7, name: 'Alice', email: 'alice@example.test' };


describe('deploy to real agents, revert the PR, roll back the hosts', { skip: !existsSync(AGENT_JS) && 'dist/agent.js missing: run npm run build' }, () => {
  let bed: TestBed;
  let fleet: Fleet;
  let server: GitHubTestServer;
  let auditDir: string;
  const agents = new Map<string, RunningAgent>();
  let beforeMerge: string;
  let merge: string;

  /** Merge a branch that bumps every host's version into main, the way GitHub's merge button does. */
  async function mergePr(branch: string, version: string, number: number): Promise<void> {
    const ws = bed.workstation;
    await git(ws, 'pull', '-q', '--ff-only', 'origin', 'main');
    await git(ws, 'checkout', '-q', '-b', branch);
    for (const h of HOSTS) writeFileSync(path.join(ws, 'hosts', h, 'version'), version + '\n');
    await git(ws, 'add', '-A');
    await git(ws, 'commit', '-q', '-m', `bump to ${version}`);
    await git(ws, 'push', '-q', 'origin', branch);
    await git(ws, 'checkout', '-q', 'main');
    await git(ws, 'merge', '-q', '--no-ff', '-m', `Merge pull request #${number} from acme/${branch}`, branch);
    await git(ws, 'push', '-q', 'origin', 'main');
    await server.recordMergedPullRequest({ number, title: `Bump hosts to ${version}`, head: branch, base: 'main', user: alice });
  }

  before(async () => {
    bed = await createTestBed({ hosts: HOSTS.map((name) => ({ name, platform: 'nixos' as const })) });
    // Generation 1 on every host: what a rollback must return to.
    for (const h of HOSTS) {
      const storePath = await bed.build(h, bed.workstation);
      await execFileP('nix-env', ['-p', bed.host(h).profile, '--set', storePath], { env: bed.env });
    }
    for (const h of HOSTS) {
      // A real health check per host: fails (with a line on stderr) while <dir>/unhealthy exists.
      const marker = path.join(bed.host(h).dir, 'unhealthy');
      agents.set(h, await startAgent(bed, h, { overrides: { healthChecks: [['/bin/sh', '-c', `if [ -e '${marker}' ]; then echo 'web: 503 Service Unavailable' >&2; exit 1; fi`]] } }));
    }
    server = await GitHubTestServer.start({ gitDir: bed.origin, owner: 'acme', repo: 'nixcfg', users: { 'gh-token': alice } });
    beforeMerge = await git(bed.workstation, 'rev-parse', 'HEAD');
    await mergePr('bump', '24.05.2', 12);
    merge = await git(bed.workstation, 'rev-parse', 'HEAD');
    const entries: HostEntry[] = HOSTS.map((h) => ({ name: h, address: agents.get(h)!.url, platform: 'nixos' as const }));
    fleet = agentFleet('deploy-test', async () => bed.token, { connectWaitMs: 10_000 });
    fleet.configure(entries, [], []);
    await fleet.start();
    auditDir = mkdtempSync(path.join(tmpdir(), 'nixfleet-deploy-audit-'));
  });

  after(async () => {
    fleet?.dispose();
    await server?.close();
    await Promise.all([...agents.values()].map((a) => a.stop()));
    await bed?.cleanup();
    if (auditDir) rmSync(auditDir, { recursive: true, force: true });
  });

  it('canary first, then the rest in parallel; the first failed switch stops hosts not started; Revert PR + Rollback undo it on disk', async () => {
    bed.setFail('h3', true);
    // h2 activates slowly, so h3 fails while h2 is still running: h2's slot must then not start h4.
    bed.setHook('h2', 'sleep 2');
    const octokit = createGitHubClient({ token: 'gh-token', baseUrl: server.baseUrl });
    const who = await gitHubLogin(octokit);
    const audit = new AuditLog(path.join(auditDir, 'deploys.jsonl'));
    const record = planDeploy({ target: { commit: merge, pr: { number: 12, repo: 'acme/nixcfg' } }, hosts: ['h2', 'h3', 'h4', 'h1'], canaries: ['h1'], parallelism: 2, who });
    assert.deepEqual(record.hosts.map((h) => h.host), ['h1', 'h2', 'h3', 'h4']);
    const events: DeployEvent[] = [];
    const started: string[] = [];
    const res = await runDeploy({
      agents: fleetAgents(fleet),
      record,
      audit,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'host' && e.host.outcome === 'running' && !started.includes(e.host.host)) started.push(e.host.host);
      },
    });
    bed.setFail('h3', false);
    bed.setHook('h2', null);
    const by = Object.fromEntries(res.hosts.map((h) => [h.host, h]));
    assert.equal(res.state, 'failed');
    assert.equal(res.stoppedBy, 'h3');
    assert.equal(started[0], 'h1', 'the canary starts first');
    assert.deepEqual(started.slice(1, 3).sort(), ['h2', 'h3'], 'then two at once (parallelism 2)');
    assert.equal(by.h1!.outcome, 'succeeded');
    assert.equal(by.h2!.outcome, 'succeeded');
    assert.equal(by.h3!.outcome, 'failed-switch');
    // The activation's own error line, not the restore's output that followed it.
    assert.match(by.h3!.failingLine!, /activation of \/nix\/store\/\S+ failed \(test bed fail marker/);
    // The agent restored h3's generation: the record says where it is and what was undone.
    assert.equal(by.h3!.generationAfter, by.h3!.generationBefore);
    assert.equal(by.h3!.generationFailed, profileGeneration(bed.host('h3').profile) + 1);
    assert.equal(by.h4!.outcome, 'not-attempted', 'h4 had not started when h3 failed');
    for (const h of HOSTS) assert.equal(by[h]!.generationBefore, 1, `${h} was on generation 1`);
    assert.equal(by.h1!.generationAfter, 2);
    // On disk: h1 and h2 switched, h3's failed activation restored generation 1, h4 untouched.
    assert.equal(profileGeneration(bed.host('h1').profile), 2);
    assert.equal(profileGeneration(bed.host('h2').profile), 2);
    assert.equal(profileGeneration(bed.host('h3').profile), 1);
    assert.equal(profileGeneration(bed.host('h4').profile), 1);
    assert.equal(bed.activations('h4').length, 0);
    assert.equal(await git(bed.host('h4').checkout, 'rev-parse', 'HEAD'), beforeMerge, 'h4 did not even pull');
    assert.equal(await git(bed.host('h1').checkout, 'rev-parse', 'HEAD'), merge);
    assert.ok(events.some((e) => e.type === 'host' && e.host.host === 'h2' && e.host.phase === 'switch'), 'live per-host events');

    // Revert the PR (direct: main moves to a commit with the pre-merge tree).
    const revert = await revertPullRequest(octokit, { repo: { owner: 'acme', repo: 'nixcfg' }, pull: 12, mode: 'direct' });
    assert.equal(await git(bed.origin, 'rev-parse', 'refs/heads/main'), revert.revertCommit);
    assert.equal(await git(bed.origin, 'rev-parse', `${revert.revertCommit}^{tree}`), await git(bed.origin, 'rev-parse', `${beforeMerge}^{tree}`));
    markReverted(res, { how: 'github-direct', revertCommit: revert.revertCommit, at: new Date().toISOString() }, who, audit);
    assert.equal(by.h1!.outcome, 'reverted');
    assert.equal(by.h3!.outcome, 'failed-switch');

    // Rollback Deployed Hosts: the hosts that switched go back to generation 1.
    const plan = describeRollback(res);
    assert.deepEqual(plan.slice(0, 2), ['h1: back to generation 1 (from 2)', 'h2: back to generation 1 (from 2)']);
    assert.match(plan[2]!, /^h3: back to generation 1 if it is not there already/);
    assert.equal(plan.length, 3, 'h4 never switched: it is not touched');
    const h1Path = readlinkSync(path.join(path.dirname(bed.host('h1').profile), 'system-1-link'));
    await rollbackDeployedHosts({ agents: fleetAgents(fleet), record: res, who, audit });
    for (const h of ['h1', 'h2', 'h3']) {
      assert.equal(by[h]!.outcome, 'rolled-back', `${h}: ${by[h]!.error}`);
      assert.equal(profileGeneration(bed.host(h).profile), 1, `${h}'s profile points at its pre-deploy generation`);
    }
    assert.equal(by.h3!.rollback!.outcome, 'unchanged', 'h3 was already back: no op was run');
    assert.equal(by.h4!.outcome, 'not-attempted');
    assert.equal(bed.activations('h1').at(-1)!.storePath, h1Path, 'h1 re-activated its generation-1 system');

    // The audit log has who, when, the PR, hosts with from/to generations and outcomes.
    const entries = audit.entries();
    assert.deepEqual(entries.map((e) => e.event), ['deploy.start', 'deploy.end', 'revert', 'rollback.start', 'rollback.end']);
    const end = entries[1]!;
    assert.equal(end.who, 'alice');
    assert.equal(end.pr, 12);
    assert.equal(end.commit, merge);
    assert.deepEqual(end.hosts.find((h) => h.host === 'h1'), { host: 'h1', from: 1, to: 2, outcome: 'succeeded' });
    assert.deepEqual(entries.at(-1)!.hosts.find((h) => h.host === 'h2'), { host: 'h2', from: 1, to: 1, outcome: 'rolled-back' });
    assert.equal(audit.lastDeploy()!.hosts.find((h) => h.host === 'h1')!.outcome, 'rolled-back', 'a reload can find the last deploy');
  });

  it('failed health checks on the canary stop the deploy, with the failing line', async () => {
    // main is now the revert; deploy the original merge again.
    const marker = path.join(bed.host('h1').dir, 'unhealthy');
    writeFileSync(marker, '');
    try {
      const record = planDeploy({ target: { commit: merge }, hosts: HOSTS, canaries: ['h1'], parallelism: 4, who: 'tester@local' });
      const res = await runDeploy({ agents: fleetAgents(fleet), record });
      const by = Object.fromEntries(res.hosts.map((h) => [h.host, h]));
      assert.equal(by.h1!.outcome, 'failed-checks');
      assert.match(by.h1!.failingLine!, /503 Service Unavailable/);
      assert.equal(by.h1!.generationAfter, 2);
      for (const h of ['h2', 'h3', 'h4']) assert.equal(by[h]!.outcome, 'not-attempted');
      assert.equal(profileGeneration(bed.host('h2').profile), 1);
      // Roll back only what changed: h1 (checks failed but it did switch).
      await rollbackDeployedHosts({ agents: fleetAgents(fleet), record: res, who: 'tester@local' });
      assert.equal(by.h1!.outcome, 'rolled-back');
      assert.equal(profileGeneration(bed.host('h1').profile), 1);
    } finally {
      rmSync(marker, { force: true });
    }
  });

  it('closure diff preview: the user sees what changes per host and can decline; nothing switches', async () => {
    const record = planDeploy({ target: { commit: merge }, hosts: ['h2', 'h4'], who: 'tester@local' });
    let seen: string[][] = [];
    const res = await runDeploy({
      agents: fleetAgents(fleet),
      record,
      confirm: async (hosts) => {
        seen = hosts.map((h) => h.closureDiff ?? []);
        return false;
      },
    });
    assert.equal(res.state, 'declined');
    assert.equal(seen.length, 2);
    for (const diff of seen) assert.ok(diff.some((l) => /24\.05\.1 → 24\.05\.2/.test(l)), `diff shows the version change: ${JSON.stringify(diff)}`);
    assert.ok(res.hosts.every((h) => h.outcome === 'not-attempted'));
    assert.equal(profileGeneration(bed.host('h2').profile), 1);
    assert.equal(profileGeneration(bed.host('h4').profile), 1);
  });

  it('an unreachable host stops the deploy before any host changes', async () => {
    const dead = new Fleet({
      openSession: (entry, endpoint, token) => openAgentSession({ entry, endpoint, token, clientName: 'deploy-test', clientVersion: '1', requestTimeoutMs: 5_000 }),
      getToken: async () => bed.token,
      connectWaitMs: 2_000,
    });
    dead.configure([{ name: 'h2', address: agents.get('h2')!.url, platform: 'nixos' }, { name: 'h9', address: 'ws://127.0.0.1:9', platform: 'nixos' }], [], []);
    try {
      const record = planDeploy({ target: { commit: merge }, hosts: ['h2', 'h9'], who: 'tester@local' });
      const res = await runDeploy({ agents: fleetAgents(dead), record });
      const by = Object.fromEntries(res.hosts.map((h) => [h.host, h]));
      assert.equal(res.state, 'failed');
      assert.equal(by.h9!.outcome, 'failed-switch');
      assert.match(by.h9!.error!, /h9.*nothing was changed/);
      assert.equal(by.h2!.outcome, 'not-attempted');
      assert.equal(profileGeneration(bed.host('h2').profile), 1);
      await assert.rejects(rollbackDeployedHosts({ agents: fleetAgents(dead), record: res, who: 'x' }), /nothing to roll back/);
    } finally {
      dead.dispose();
    }
  });

  it('without GitHub: the DeployService deploys a PR merge, reverts it with git in a clone, rolls back; a new service finds it in the audit log', async () => {
    await mergePr('bump3', '24.05.3', 13);
    const merge13 = await git(bed.workstation, 'rev-parse', 'HEAD');
    const before13 = await git(bed.workstation, 'rev-parse', 'HEAD^1');
    const auditFile = path.join(auditDir, 'service.jsonl');
    const service = new DeployService({ agents: fleetAgents(fleet), auditFile });
    const events: DeployEvent[] = [];
    service.onEvent.on((e) => events.push(e));
    const gens = Object.fromEntries(HOSTS.map((h) => [h, profileGeneration(bed.host(h).profile)]));
    const marker = path.join(bed.host('h2').dir, 'unhealthy');
    writeFileSync(marker, '');
    let record;
    try {
      record = await service.deploy({ target: { commit: merge13, pr: { number: 13 } }, hosts: ['h1', 'h2'], canaries: ['h1'], who: 'carol@laptop' });
    } finally {
      rmSync(marker, { force: true });
    }
    assert.equal(record.state, 'failed');
    assert.deepEqual(record.hosts.map((h) => h.outcome), ['succeeded', 'failed-checks']);
    assert.ok(events.some((e) => e.type === 'deploy' && e.record.state === 'failed'));
    // One deploy (or undo) at a time per service: a second one is refused while the first runs.
    const other = new DeployService({ agents: fleetAgents(fleet), auditFile: path.join(auditDir, 'other.jsonl') });
    const first = other.deploy({ target: { commit: merge13 }, hosts: ['h3'], who: 'x' }, { confirm: async () => false });
    await assert.rejects(other.deploy({ target: { commit: merge13 }, hosts: ['h4'], who: 'x' }), /already running/);
    assert.equal((await first).state, 'declined');

    // A plain git clone of the origin (no GitHub): git revert -m 1 and push.
    const clone = path.join(bed.root, 'revert-clone');
    await git(bed.root, 'clone', '-q', bed.origin, clone);
    await git(clone, 'config', 'user.name', 'Carol');
    await git(clone, 'config', 'user.email', 'carol@example.test');
    const res = await service.revertInClone(clone, merge13, 'carol@laptop');
    assert.equal(await git(bed.origin, 'rev-parse', 'refs/heads/main'), res.revertCommit);
    assert.equal(await git(bed.origin, 'rev-parse', `${res.revertCommit}^{tree}`), await git(bed.origin, 'rev-parse', `${before13}^{tree}`));
    assert.equal(record.revert?.how, 'git');
    assert.deepEqual(record.hosts.map((h) => h.outcome), ['reverted', 'reverted']);

    await service.rollback('carol@laptop');
    for (const h of ['h1', 'h2']) assert.equal(profileGeneration(bed.host(h).profile), gens[h], `${h} is back on its pre-deploy generation`);
    const reloaded = new DeployService({ agents: fleetAgents(fleet), auditFile }).last()!;
    assert.equal(reloaded.id, record.id);
    assert.deepEqual(reloaded.hosts.map((h) => [h.host, h.outcome, h.generationBefore]), [['h1', 'rolled-back', gens.h1], ['h2', 'rolled-back', gens.h2]]);
  });

  it('magic rollback: each switch and rollback is confirmed over a new connection, so the host keeps it', async () => {
    const service = new DeployService({ agents: fleetAgents(fleet), auditFile: path.join(auditDir, 'magic.jsonl') });
    const before = profileGeneration(bed.host('h4').profile);
    const record = await service.deploy({ target: { commit: merge }, hosts: ['h4'], who: 'tester@local' }, { magicRollback: true });
    const h4 = record.hosts[0]!;
    assert.equal(h4.outcome, 'succeeded', h4.error);
    assert.equal(profileGeneration(bed.host('h4').profile), h4.generationAfter);
    assert.notEqual(h4.generationAfter, before);
    await service.rollback('tester@local', record, undefined, { magicRollback: true });
    assert.equal(h4.outcome, 'rolled-back', h4.error);
    assert.equal(profileGeneration(bed.host('h4').profile), before);
  });
});
