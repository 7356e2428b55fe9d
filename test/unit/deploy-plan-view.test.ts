// The plan view's model and what a deploy from it takes (Plan Deploy), the messages the plan
// view and the deploy summary accept from their pages, the summary's wave sections and the
// actions it offers after a halt or a preflight refusal, and the rollout settings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HostPlan } from '../../protocol';
import type { FleetPlan, PlannedHost } from '../../src/deploy/fleetPlan';
import { defaultSelection, deployHostsFromPlan, planFor, planViewModel, PlanSelectionError } from '../../src/deploy/planSelection';
import { planRollout } from '../../src/deploy/rollout';
import { OUTCOME_LABEL, OUTCOME_TONE, summarizeDeploy } from '../../src/deploy/summary';
import type { DeployRecord } from '../../src/deploy/types';
import { Settings } from '../../src/settings';
import { parseWebviewMessage, planViewMessage, summaryMessage } from '../../src/views/webviewMessages';

const units = (restart: string[] = [], start: string[] = []) => ({ known: true as const, units: { stop: [], restart, reload: [], start }, notes: [] });
const hp = (o: Partial<HostPlan>): HostPlan => ({ noChange: false, storePath: '/nix/store/new', currentStorePath: '/nix/store/old', packages: [], closureBytes: 1000, currentClosureBytes: 900, closureBytesChange: 100, activation: units(), ...o });
const openssl = { name: 'openssl', from: ['3.0.2'], to: ['3.0.3'], change: 'upgraded' as const };

/** 50 hosts: 30 web (openssl + restart nginx), 12 db (openssl), 6 unchanged, a Mac, one failed plan. */
function fleetPlan(): FleetPlan {
  const hosts: PlannedHost[] = [];
  for (let i = 0; i < 30; i++) hosts.push({ host: `web${i}`, state: 'planned', opId: `w${i}`, plan: hp({ packages: [openssl], activation: units(['nginx.service']), closureBytesChange: 2048 + i }) });
  for (let i = 0; i < 12; i++) hosts.push({ host: `db${i}`, state: 'planned', opId: `d${i}`, plan: hp({ packages: [openssl] }) });
  for (let i = 0; i < 6; i++) hosts.push({ host: `idle${i}`, state: 'planned', opId: `i${i}`, plan: hp({ noChange: true, storePath: '/nix/store/old', closureBytesChange: 0 }) });
  hosts.push({ host: 'mac1', state: 'planned', opId: 'm', plan: hp({ packages: [openssl], activation: { known: false, reason: 'nix-darwin has no dry activation: not known' } }) });
  hosts.push({ host: 'broken', state: 'failed', opId: 'b', error: 'host broken: building failed' });
  return { id: 'plan1', commit: 'abcdef1234567', madeAt: '2026-12-04T15:00:00Z', hosts };
}

describe('the plan view', () => {
  it('groups 50 hosts into five blocks; changed hosts ticked, no-change and failed ones shown but not tickable', () => {
    const m = planViewModel(fleetPlan());
    assert.deepEqual(m.groups.map((g) => [g.kind, g.rows.length]), [['change', 30], ['change', 12], ['change', 1], ['no-change', 6], ['failed', 1]]);
    assert.deepEqual(m.counts, { change: 43, noChange: 6, failed: 1, selected: 43 });
    assert.equal(m.headline, 'Plan of commit abcdef123456: 43 hosts change, 6 no change, 1 plan failed');
    const web = m.groups[0]!;
    assert.deepEqual(web.unitLines, [{ action: 'restart', units: ['nginx.service'] }]);
    assert.deepEqual(web.rows[1], { host: 'web1', selectable: true, selected: true, note: 'closure +2.0 KiB' });
    assert.equal(m.groups[2]!.unitLines, undefined, 'the Mac: units not known');
    assert.equal(m.groups[2]!.unitsNotKnown, 'nix-darwin has no dry activation: not known');
    assert.deepEqual(m.groups[3]!.rows[0], { host: 'idle0', selectable: false, selected: false, note: 'no change: skipped' });
    assert.deepEqual(m.groups[4]!.rows[0], { host: 'broken', selectable: false, selected: false, note: 'host broken: building failed' });
  });

  it('keeps the ticks it is given; a no-change host cannot be ticked even when asked', () => {
    const m = planViewModel(fleetPlan(), ['web3', 'idle0']);
    assert.equal(m.counts.selected, 1);
    assert.deepEqual(m.groups.flatMap((g) => g.rows).filter((r) => r.selected).map((r) => r.host), ['web3']);
    assert.equal(defaultSelection(fleetPlan()).length, 43);
  });

  it('a deploy from the view takes the ticked hosts in plan order, and refuses anything the plan cannot deploy', () => {
    const plan = fleetPlan();
    assert.deepEqual(deployHostsFromPlan(plan, ['db1', 'web2', 'mac1']), ['web2', 'db1', 'mac1']);
    const refused = (sel: string[], re: RegExp) => assert.throws(() => deployHostsFromPlan(plan, sel), (e: Error) => e instanceof PlanSelectionError && re.test(e.message));
    refused([], /no host is ticked/);
    refused(['web1', 'web1'], /ticked twice/);
    refused(['web1', 'nothere'], /nothere is not in this plan/);
    refused(['idle2'], /idle2 has no change/);
    refused(['broken'], /broken has no plan \(host broken: building failed\)/);
    // The rollout gets the plan of the ticked hosts only, so it does not build again.
    assert.deepEqual(planFor(plan, ['db1', 'web2']).hosts.map((h) => h.host), ['web2', 'db1']);
    assert.equal(planFor(plan, ['db1']).id, plan.id);
  });
});

describe('webview messages', () => {
  const plan = (m: unknown) => parseWebviewMessage(planViewMessage, m);
  const summary = (m: unknown) => parseWebviewMessage(summaryMessage, m);

  it('accepts exactly the plan view\'s messages', () => {
    assert.deepEqual(plan({ type: 'deploy', plan: 'plan1', hosts: ['h1', 'alice@h3'] }), { type: 'deploy', plan: 'plan1', hosts: ['h1', 'alice@h3'] });
    assert.deepEqual(plan({ type: 'ready' }), { type: 'ready' });
    assert.deepEqual(plan({ type: 'replan', plan: 'mz1abc' }), { type: 'replan', plan: 'mz1abc' });
    for (const bad of [
      null,
      'deploy',
      { type: 'deploy', plan: 'plan1', hosts: [] }, // nothing ticked
      { type: 'deploy', plan: 'plan1', hosts: ['h1; rm -rf /'] }, // not a host name
      { type: 'deploy', plan: 'plan1', hosts: 'h1' },
      { type: 'deploy', plan: '../x', hosts: ['h1'] },
      { type: 'deploy', plan: 'plan1', hosts: ['h1'], commit: 'abc1234' }, // extra keys: refused
      { type: 'deploy', plan: 'plan1', hosts: Array.from({ length: 1025 }, (_, i) => `h${i}`) },
      { type: 'logs', host: '' },
      { type: 'action', action: 'rollback' }, // the summary's, not the plan view's
    ]) {
      assert.equal(plan(bad), undefined, JSON.stringify(bad)?.slice(0, 80));
    }
  });

  it('accepts exactly the summary\'s messages', () => {
    assert.deepEqual(summary({ type: 'policy', deploy: 'mz1abc', policy: 'rollback-wave' }), { type: 'policy', deploy: 'mz1abc', policy: 'rollback-wave' });
    for (const action of ['revert', 'rollback', 'revert-rollback', 'resume', 'retry-failed', 'push']) assert.ok(summary({ type: 'action', action }), action);
    for (const bad of [
      { type: 'policy', deploy: 'mz1abc', policy: 'ask' }, // "ask" is not an answer
      { type: 'policy', deploy: 'mz1abc', policy: 'rollback-everything' },
      { type: 'policy', policy: 'keep' },
      { type: 'action', action: 'deploy' },
      { type: 'logs', host: 'h1', extra: 1 },
      { type: '__proto__' },
    ]) {
      assert.equal(summary(bad), undefined, JSON.stringify(bad));
    }
  });
});

describe('the deploy summary of a rollout', () => {
  const rollout = (): DeployRecord =>
    planRollout({ target: { commit: 'abcdef1234567' }, hosts: ['c1', 'h1', 'h2', 'h3'], canaries: ['c1'], waves: ['h1,h2'], soakMs: 60_000, onFailure: 'ask', who: 'test' });

  it('every outcome has a tone (the page colours by tone, so a new outcome is one table entry)', () => {
    assert.deepEqual(Object.keys(OUTCOME_TONE).sort(), Object.keys(OUTCOME_LABEL).sort());
  });

  it('waves as sections: state, hosts, soak end while soaking, and the halted wave', () => {
    const r = rollout();
    r.state = 'running';
    r.rollout!.waves[0]!.state = 'passed';
    r.hosts[0]!.outcome = 'succeeded';
    Object.assign(r.rollout!.waves[1]!, { state: 'soaking', soakUntil: '2026-12-04T15:01:00Z' });
    let s = summarizeDeploy(r);
    assert.deepEqual(s.waves.map((w) => [w.name, w.stateLabel, w.hosts, w.halted]), [['canaries', 'passed', ['c1'], false], ['h1,h2', 'soaking', ['h1', 'h2'], false], ['the rest', 'waiting', ['h3'], false]]);
    assert.equal(s.waves[1]!.soakUntil, '2026-12-04T15:01:00Z');
    assert.equal(s.canResume, false, 'a running rollout is not resumed');
    // Halted at wave 2 (h2 failed its gate).
    Object.assign(r.rollout!.waves[1]!, { state: 'failed', failed: ['h2'], detail: '1 host(s) failed (0 tolerated): h2' });
    r.rollout!.waves[2]!.state = 'not-attempted';
    r.rollout!.haltedAt = 1;
    r.hosts[1]!.outcome = 'succeeded';
    r.hosts[2]!.outcome = 'failed-checks';
    r.hosts[1]!.switchStarted = r.hosts[2]!.switchStarted = true;
    r.state = 'failed';
    s = summarizeDeploy(r);
    assert.equal(s.waves[1]!.halted, true);
    assert.equal(s.waves[1]!.soakUntil, undefined, 'no countdown once the wave ended');
    assert.deepEqual(s.retryHosts, ['h2']);
    assert.equal(s.canResume, true);
    assert.equal(s.canPush, false);
    assert.equal(s.rows.find((x) => x.host === 'h2')!.tone, 'bad');
  });

  it('stopped in preflight: the refusals, Push when the commit is only local, and no undo at all', () => {
    const r = rollout();
    r.state = 'failed';
    r.stoppedIn = 'preflight';
    r.preflight = [
      { kind: 'unpushed', message: 'commit abcdef123456 is only local: push first (git push origin); the hosts fetch from origin' },
      { kind: 'busy', host: 'h1', message: 'host h1 is busy' },
    ];
    for (const h of r.hosts) h.outcome = 'not-attempted';
    const s = summarizeDeploy(r);
    assert.match(s.headline, /stopped in preflight: commit abcdef123456 is only local.*nothing was deployed/);
    assert.equal(s.preflight.length, 2);
    assert.equal(s.canPush, true);
    assert.equal(s.canRevert, false);
    assert.equal(s.canRollback, false);
    assert.deepEqual(s.retryHosts, [], 'nothing failed: nothing to retry (Try Again starts it over)');
    assert.equal(s.canResume, true);
  });
});

describe('rollout settings', () => {
  const settings = (v: Record<string, unknown>) => new Settings({ setting: (k) => v[k] });

  it('defaults: no waves, no soak, nothing tolerated, ask; hosts at once is the deploy parallelism', () => {
    assert.deepEqual(settings({}).rollout, { waves: [], soakMs: 0, failuresTolerated: 0, onFailure: 'ask', maxInFlight: 4 });
    assert.deepEqual(settings({ 'nixfleet.deploy.waves': ['25%', 'tag:web'], 'nixfleet.deploy.soak': '5m', 'nixfleet.deploy.parallelism': 2, 'nixfleet.deploy.onFailure': 'rollback-wave' }).rollout, {
      waves: ['25%', 'tag:web'],
      soakMs: 300_000,
      failuresTolerated: 0,
      onFailure: 'rollback-wave',
      maxInFlight: 2,
    });
  });

  it('a bad value names the setting and what to write', () => {
    const bad = (v: Record<string, unknown>, re: RegExp) => assert.throws(() => settings(v).rollout, re);
    bad({ 'nixfleet.deploy.waves': 'tag:web' }, /nixfleet\.deploy\.waves must be a list/);
    bad({ 'nixfleet.deploy.waves': ['tag:'] }, /nixfleet\.deploy\.waves: "tag:" is not a tag/);
    bad({ 'nixfleet.deploy.soak': 'soon' }, /nixfleet\.deploy\.soak: "soon" is not a duration/);
    bad({ 'nixfleet.deploy.soak': '25h' }, /longer than 24 hours/);
    bad({ 'nixfleet.deploy.failuresTolerated': -1 }, /failuresTolerated must be a whole number/);
    bad({ 'nixfleet.deploy.onFailure': 'panic' }, /onFailure must be ask, keep, rollback-wave or rollback-all/);
  });
});
