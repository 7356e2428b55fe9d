// Rollouts in waves against real agents, real Nix and real git: three waves (canary, tag:web,
// the rest); the second wave's host turns unhealthy during its soak, so its health gate fails,
// the rollout halts, the third wave is not attempted, and each failure policy leaves the
// profiles on disk where it says. Then retry-failed reruns only the failed host and resume
// finishes the rollout from the persisted record. Preflight refuses an unpushed commit, a busy
// host and an offline host before touching anything.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AGENT_JS, waitFor } from './agent-harness';
import { git } from './deploy-fixtures';
import { startRolloutFleet, type RolloutFleet } from './rollout-fixtures';
import { AuditLog } from '../../src/deploy/audit';
import { planRollout, resumeRollout, retryFailedHosts, runRollout } from '../../src/deploy/rollout';
import type { FailurePolicy } from '../../src/deploy/rolloutTypes';
import { summarizeDeploy } from '../../src/deploy/summary';
import type { DeployEvent, DeployRecord } from '../../src/deploy/types';

const HOSTS = ['c1', 'a1', 'a2', 'z1'];
const TAGS = { a1: ['web'], a2: ['web', 'eu'] };

describe('rollout in waves on real agents', { skip: !existsSync(AGENT_JS) && 'dist/agent.js missing: run npm run build' }, () => {
  let f: RolloutFleet;
  let auditDir: string;
  let version = 10;

  before(async () => {
    f = await startRolloutFleet(HOSTS.map((name) => ({ name, platform: 'nixos' as const })));
    auditDir = mkdtempSync(path.join(tmpdir(), 'nixfleet-rollout-audit-'));
  });
  after(async () => {
    await f?.dispose();
    if (auditDir) rmSync(auditDir, { recursive: true, force: true });
  });

  /** A commit that changes every host's system. */
  async function newTarget(): Promise<string> {
    version++;
    return f.bed.commit(Object.fromEntries(HOSTS.map((h) => [`hosts/${h}/version`, `24.05.${version}\n`])), `all hosts to 24.05.${version}`);
  }
  const gens = () => Object.fromEntries(HOSTS.map((h) => [h, f.generation(h)]));
  /** The host's profile is on the generation its switch in `r` made (nix-env numbers it after the highest, not the current). */
  const onNew = (r: DeployRecord, h: string, before: Record<string, number>) => {
    const after = r.hosts.find((x) => x.host === h)!.generationAfter;
    assert.ok(after !== undefined && after > before[h]!, `${h} switched to a new generation`);
    assert.equal(f.generation(h), after, `${h}'s profile is on generation ${after}`);
  };

  /** Run a 3-wave rollout whose wave 2 host a2 turns unhealthy while the wave soaks. */
  async function haltedRollout(onFailure: FailurePolicy | 'ask', ask?: (q: { wave: number; failed: string[] }) => Promise<FailurePolicy>) {
    const commit = await newTarget();
    const before = gens();
    const z1Activations = f.bed.activations('z1').length;
    const audit = new AuditLog(path.join(auditDir, `${onFailure}.jsonl`));
    const record = planRollout({ target: { commit }, hosts: HOSTS, canaries: ['c1'], waves: ['tag:web', '100%'], tags: TAGS, soakMs: 300, maxInFlight: 2, onFailure, who: 'tester' });
    const waveEvents: string[] = [];
    const res = await runRollout({
      agents: f.agents,
      record,
      audit,
      repoDir: f.bed.workstation,
      ...(ask ? { ask: (q) => ask({ wave: q.wave, failed: q.failed }) } : {}),
      onEvent: (e: DeployEvent) => {
        if (e.type !== 'wave') return;
        waveEvents.push(`${e.index}:${e.wave.state}`);
        // The host breaks while its wave soaks: only the health gate can see it.
        if (e.index === 1 && e.wave.state === 'soaking') f.setUnhealthy('a2', true);
      },
    });
    f.setUnhealthy('a2', false);
    assert.deepEqual(res.rollout!.waves.map((w) => [w.name, w.hosts]), [['canaries', ['c1']], ['tag:web', ['a1', 'a2']], ['100%', ['z1']]]);
    assert.equal(res.state, 'failed');
    assert.equal(res.rollout!.haltedAt, 1);
    assert.deepEqual(res.rollout!.waves.map((w) => w.state), ['passed', 'failed', 'not-attempted']);
    assert.deepEqual(res.rollout!.waves[1]!.failed, ['a2']);
    assert.equal(res.stoppedBy, 'a2');
    assert.match(res.hosts.find((h) => h.host === 'a2')!.failingLine!, /503 Service Unavailable/);
    // Wave 3 was never attempted: z1's profile and activation log are as they were.
    assert.equal(res.hosts.find((h) => h.host === 'z1')!.outcome, 'not-attempted');
    assert.equal(f.generation('z1'), before.z1);
    assert.equal(f.bed.activations('z1').length, z1Activations);
    assert.ok(!waveEvents.some((e) => e.startsWith('2:running')), 'wave 3 never started');
    assert.deepEqual(waveEvents.filter((e) => e.startsWith('1:')), ['1:running', '1:soaking', '1:gating', '1:failed']);
    assert.match(summarizeDeploy(res).headline, /halted at wave 2 \(tag:web\) on a2/);
    return { res, before, audit };
  }

  it('keep: the switched hosts stay on the new generation; retry-failed reruns only a2; resume runs wave 3', async () => {
    const { res, before, audit } = await haltedRollout('keep');
    assert.equal(res.rollout!.policyApplied, 'keep');
    // What the summary view and `nixfleet deploy` print per wave.
    assert.deepEqual(summarizeDeploy(res).waves.map((w) => w.line), [
      'wave 1/3 canaries: 1 of 1 switched, passed',
      'wave 2/3 tag:web: 1 of 2 switched, failed; failed: a2',
      'wave 3/3 100%: 0 of 1 switched, not attempted',
    ]);
    for (const h of ['c1', 'a1', 'a2']) onNew(res, h, before);

    // Retry from the persisted record, as after a VS Code restart.
    const saved = new AuditLog(audit.file).lastDeploy()!;
    assert.equal(saved.id, res.id);
    const opsBefore = Object.fromEntries(saved.hosts.map((h) => [h.host, h.ops.length]));
    const retried = await retryFailedHosts({ agents: f.agents, record: saved, audit, repoDir: f.bed.workstation });
    const by = (r: DeployRecord, h: string) => r.hosts.find((x) => x.host === h)!;
    assert.equal(by(retried, 'a2').outcome, 'succeeded');
    assert.ok(by(retried, 'a2').ops.length > opsBefore.a2!, 'a2 ran again');
    for (const h of ['c1', 'a1', 'z1']) assert.equal(by(retried, h).ops.length, opsBefore[h], `${h} was not touched by the retry`);
    // The retry's switch has its own op id (attempt 2), not the failed one's.
    const switches = by(retried, 'a2').ops.filter((o) => o.kind === 'switch').map((o) => o.id);
    assert.equal(new Set(switches).size, switches.length);
    assert.deepEqual(retried.rollout!.waves.map((w) => w.state), ['passed', 'passed', 'not-attempted']);
    assert.equal(retried.state, 'failed', 'wave 3 has not run: still halted before it');
    assert.equal(retried.rollout!.haltedAt, 2);
    assert.equal(f.generation('z1'), before.z1);

    const resumed = await resumeRollout({ agents: f.agents, record: new AuditLog(audit.file).lastDeploy()!, audit, repoDir: f.bed.workstation });
    assert.equal(resumed.state, 'succeeded');
    assert.deepEqual(resumed.rollout!.waves.map((w) => w.state), ['passed', 'passed', 'passed']);
    onNew(resumed, 'z1', before);
    assert.equal(by(resumed, 'c1').ops.length, opsBefore.c1, 'the resume did not rerun the passed waves');
  });

  it('rollback-wave: the failed wave goes back, the canary keeps the change', async () => {
    const { res, before } = await haltedRollout('rollback-wave');
    assert.equal(res.rollout!.policyApplied, 'rollback-wave');
    onNew(res, 'c1', before);
    assert.equal(f.generation('a1'), before.a1);
    assert.equal(f.generation('a2'), before.a2);
    assert.deepEqual(['a1', 'a2'].map((h) => res.hosts.find((x) => x.host === h)!.outcome), ['rolled-back', 'rolled-back']);
  });

  it('rollback-all: every host that switched goes back', async () => {
    const { res, before } = await haltedRollout('rollback-all');
    for (const h of ['c1', 'a1', 'a2']) assert.equal(f.generation(h), before[h], `${h} is back`);
    assert.equal(f.generation('z1'), before.z1);
    assert.equal(summarizeDeploy(res).canRollback, false, 'nothing left to roll back');
  });

  it('ask: the callback is asked once with the failed wave, and its answer is applied', async () => {
    const asked: { wave: number; failed: string[] }[] = [];
    const { res, before } = await haltedRollout('ask', async (q) => {
      asked.push(q);
      return 'rollback-wave';
    });
    assert.deepEqual(asked, [{ wave: 1, failed: ['a2'] }]);
    assert.equal(res.rollout!.policyApplied, 'rollback-wave');
    assert.equal(f.generation('a2'), before.a2);
    onNew(res, 'c1', before);
  });

  it('cancelled mid-wave: the running switch finishes, nothing else starts; resume gates it and runs the rest', async () => {
    const commit = await newTarget();
    const before = gens();
    const audit = new AuditLog(path.join(auditDir, 'cancel.jsonl'));
    const abort = new AbortController();
    f.bed.setHook('a1', 'sleep 1');
    let cancelled: DeployRecord;
    try {
      cancelled = await runRollout({
        agents: f.agents,
        record: planRollout({ target: { commit }, hosts: HOSTS, canaries: ['c1'], waves: ['tag:web', '100%'], tags: TAGS, maxInFlight: 1, onFailure: 'keep', who: 'tester' }),
        audit,
        signal: abort.signal,
        repoDir: f.bed.workstation,
        onEvent: (e) => {
          if (e.type === 'host' && e.host.host === 'a1' && e.host.outcome === 'running') abort.abort();
        },
      });
    } finally {
      f.bed.setHook('a1', null);
    }
    const by = (r: DeployRecord, h: string) => r.hosts.find((x) => x.host === h)!;
    assert.equal(cancelled.state, 'failed');
    assert.deepEqual(cancelled.rollout!.waves.map((w) => w.state), ['passed', 'failed', 'not-attempted']);
    assert.equal(cancelled.rollout!.waves[1]!.detail, 'cancelled');
    assert.equal(by(cancelled, 'a1').outcome, 'succeeded', 'the switch that was running finished');
    assert.deepEqual(['a2', 'z1'].map((h) => by(cancelled, h).outcome), ['not-attempted', 'not-attempted']);
    assert.equal(f.generation('a2'), before.a2);
    assert.equal(cancelled.rollout!.policyApplied, undefined, 'a cancel applies no failure policy');

    const resumed = await resumeRollout({ agents: f.agents, record: new AuditLog(audit.file).lastDeploy()!, audit, repoDir: f.bed.workstation });
    assert.equal(resumed.state, 'succeeded');
    assert.deepEqual(by(resumed, 'a1').ops.map((o) => o.kind), ['build', 'switch', 'test'], 'a1 was not switched again, but it was gated');
    for (const h of ['a2', 'z1']) onNew(resumed, h, before);
  });

  it('hosts the plan marks "no change" are skipped', async () => {
    const all = await runRollout({ agents: f.agents, record: planRollout({ target: { commit: await newTarget() }, hosts: HOSTS, waves: ['50%'], onFailure: 'keep', who: 'tester' }), repoDir: f.bed.workstation });
    assert.equal(all.state, 'succeeded');
    const before = gens();
    const onlyZ1 = await f.bed.setVersion('z1', '24.05.99');
    const r = await runRollout({ agents: f.agents, record: planRollout({ target: { commit: onlyZ1 }, hosts: HOSTS, waves: ['50%'], onFailure: 'keep', who: 'tester' }), repoDir: f.bed.workstation });
    assert.equal(r.state, 'succeeded');
    assert.deepEqual(r.hosts.map((h) => [h.host, h.outcome]), [['c1', 'no-change'], ['a1', 'no-change'], ['a2', 'no-change'], ['z1', 'succeeded']]);
    for (const h of ['c1', 'a1', 'a2']) {
      assert.deepEqual(r.hosts.find((x) => x.host === h)!.ops.map((o) => o.kind), ['build'], `${h} was planned, not switched`);
      assert.equal(f.generation(h), before[h]);
    }
    onNew(r, 'z1', before);
    assert.deepEqual(summarizeDeploy(r).waves.map((w) => w.line), ['wave 1/2 50%: 0 of 0 switched (2 no change), passed', 'wave 2/2 the rest: 1 of 1 switched (1 no change), passed']);
  });

  describe('preflight refuses before any host is touched', () => {
    const untouched = (r: DeployRecord, before: Record<string, number>) => {
      assert.equal(r.state, 'failed');
      assert.equal(r.stoppedIn, 'preflight');
      for (const h of r.hosts) {
        assert.equal(h.switchStarted, false);
        assert.deepEqual(h.ops, [], `${h.host} ran no op`);
        if (before[h.host] !== undefined) assert.equal(f.generation(h.host), before[h.host]);
      }
      const s = summarizeDeploy(r);
      assert.equal(s.canRollback, false);
      assert.equal(s.canRevert, false);
      assert.match(s.headline, /stopped in preflight: .*; nothing was deployed$/);
    };

    it('a commit that is only local: "push first"', async () => {
      await git(f.bed.workstation, 'commit', '-q', '--allow-empty', '-m', 'not pushed');
      const local = await git(f.bed.workstation, 'rev-parse', 'HEAD');
      try {
        const before = gens();
        const r = await runRollout({ agents: f.agents, record: planRollout({ target: { commit: local }, hosts: HOSTS, waves: [], onFailure: 'keep', who: 'tester' }), repoDir: f.bed.workstation });
        untouched(r, before);
        assert.equal(r.preflight![0]!.kind, 'unpushed');
        assert.match(r.preflight![0]!.message, /only local: push first/);
      } finally {
        await git(f.bed.workstation, 'reset', '-q', '--hard', 'origin/main');
      }
    });

    it('a busy host', async () => {
      const commit = await git(f.bed.workstation, 'rev-parse', 'HEAD');
      f.bed.setHook('z1', 'sleep 3');
      const busy = f.agents.runOp('z1', 'switch', { rev: commit }, { opId: 'rollout-test-busy' });
      try {
        await waitFor('z1 busy', async () => (await f.agents.status('z1')).busy);
        const before = gens();
        const r = await runRollout({ agents: f.agents, record: planRollout({ target: { commit }, hosts: HOSTS, waves: [], onFailure: 'keep', who: 'tester' }), repoDir: f.bed.workstation });
        untouched(r, before);
        assert.deepEqual(r.preflight!.map((p) => [p.kind, p.host]), [['busy', 'z1']]);
        assert.match(r.preflight![0]!.message, /host z1 is busy: switch running since/);
      } finally {
        await busy;
        f.bed.setHook('z1', null);
      }
    });

    it('an offline host', async () => {
      const commit = await git(f.bed.workstation, 'rev-parse', 'HEAD');
      const off = await f.withOffline('ghost');
      try {
        const before = gens();
        const r = await runRollout({ agents: off.agents, record: planRollout({ target: { commit }, hosts: ['c1', 'ghost'], waves: [], onFailure: 'keep', who: 'tester' }) });
        untouched(r, before);
        assert.deepEqual(r.preflight!.map((p) => [p.kind, p.host]), [['offline', 'ghost']]);
        assert.match(r.preflight![0]!.message, /host ghost is not reachable .*bring it online or leave it out/);
      } finally {
        off.dispose();
      }
    });
  });
});
