// `nixfleet plan` and `nixfleet deploy --wave` (the real dist/nixfleet.js) across three real
// agents on the Nix test bed: the fleet's plan with one host unchanged, a 2-wave rollout whose
// first wave fails its health gate (it halts, exit 1, the second wave is not attempted; with
// --on-failure rollback-wave the failed wave's host goes back), --retry-failed and --resume
// of that rollout from its audit log, preflight refusing a commit that is only in the clone
// (--repo) until it is pushed, and bad rollout values.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createTestBed, DEFAULT_PACKAGES, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, startAgent, waitFor, type RunningAgent } from './agent-harness';
import { NIXFLEET_JS, profileGeneration, runCli, startCliOnTerminal, writeFleetFiles } from './cli-harness';
import type { FleetPlan, PlanGroup } from '../../src/deploy/fleetPlan';
import type { DeploySummary } from '../../src/deploy/summary';
import type { DeployRecord } from '../../src/deploy/types';

const execFileP = promisify(execFile);
const HOSTS = ['h1', 'h2', 'h3'];

describe('nixfleet plan and deploy in waves', { skip: (!existsSync(AGENT_JS) || !existsSync(NIXFLEET_JS)) && 'dist/ missing: run npm run build' }, () => {
  let bed: TestBed;
  const agents: RunningAgent[] = [];
  let files: ReturnType<typeof writeFleetFiles>;
  let common: string[];
  /** Preflight checks the commit against the workstation clone's origin (where the hosts fetch). */
  let repo: string[];
  let version = 10;
  const gen = (h: string) => profileGeneration(bed.host(h).profile);
  const armed = (h: string) => path.join(bed.host(h).dir, 'health-passes-left');
  /** A commit that changes every host's system. */
  const bumpAll = () => {
    version++;
    return bed.commit(Object.fromEntries(HOSTS.map((h) => [`hosts/${h}/version`, `24.05.${version}\n`])), `all hosts to 24.05.${version}`);
  };

  before(async () => {
    bed = await createTestBed({ hosts: HOSTS.map((name) => ({ name, platform: 'nixos' as const })) });
    for (const h of HOSTS) {
      const storePath = await bed.build(h, bed.workstation);
      await execFileP('nix-env', ['-p', bed.host(h).profile, '--set', storePath], { env: bed.env });
      // The health check (a test double): while <dir>/health-passes-left holds N, it passes N
      // more times, then fails once ("503") and disarms. Armed with 1, the switch's own check
      // passes and the rollout's health gate (the next check) fails: no timing involved.
      const marker = armed(h);
      const check = `m='${marker}'; if [ -e "$m" ]; then k=$(cat "$m"); if [ "$k" -le 0 ]; then rm -f "$m"; echo 'web: 503 Service Unavailable' >&2; exit 1; fi; echo $((k-1)) > "$m"; fi`;
      agents.push(await startAgent(bed, h, { overrides: { healthChecks: [['/bin/sh', '-c', check]] } }));
    }
    files = writeFleetFiles(HOSTS.map((h, i) => ({ name: h, url: agents[i]!.url })), bed.token);
    // Tags from the hosts file entries: h2 and h3 are "web".
    writeFileSync(files.hostsFile, JSON.stringify(HOSTS.map((h, i) => ({ name: h, address: agents[i]!.url, platform: 'nixos', ...(h === 'h1' ? {} : { tags: ['web'] }) })), null, 2));
    common = ['--hosts-file', files.hostsFile, '--tokens-file', files.tokensFile];
    repo = ['--repo', bed.workstation];
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    files?.cleanup();
    await bed?.cleanup();
  });

  it('plan: h1 starts a unit, h2 upgrades a package, h3 has no change; nothing is activated', async () => {
    await bed.setUnits('h1', { 'nginx.service': 'v1' });
    const commit = await bed.setPackages('h2', { ...DEFAULT_PACKAGES, openssl: '3.0.3' });
    const activations = HOSTS.map((h) => bed.activations(h).length);
    const r = await runCli(['plan', '--rev', commit, '--json', ...common]);
    assert.equal(r.status, 0, r.stderr);
    const { plan, groups } = JSON.parse(r.stdout) as { plan: FleetPlan; groups: PlanGroup[] };
    assert.equal(plan.commit, commit);
    assert.deepEqual(plan.hosts.map((h) => [h.host, h.state]), HOSTS.map((h) => [h, 'planned']));
    const of = (h: string) => groups.find((g) => g.hosts.includes(h))!;
    assert.deepEqual(groups.map((g) => [g.kind, g.hosts]), [['change', ['h1']], ['change', ['h2']], ['no-change', ['h3']]]);
    assert.deepEqual(of('h1').units, { stop: [], restart: [], reload: [], start: ['nginx.service'] });
    assert.deepEqual(of('h1').packages, []);
    assert.deepEqual(of('h2').packages.map((p) => [p.name, p.from, p.to]), [['openssl', ['3.0.2'], ['3.0.3']]]);
    assert.deepEqual(of('h2').units, { stop: [], restart: [], reload: [], start: [] });
    assert.ok(of('h2').closureBytesChange !== undefined, 'the closure size change is known');
    assert.equal(of('h3').summary, '1 host: no change (skipped)');
    // Built, not activated: every profile is on generation 1 and no activation ran.
    assert.deepEqual(HOSTS.map(gen), [1, 1, 1]);
    assert.deepEqual(HOSTS.map((h) => bed.activations(h).length), activations);

    // The text form: one line per group, with the units and the "no change" host.
    const text = await runCli(['plan', '--rev', commit, '--hosts', 'h1,h3', ...common]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^1 host: no package version changes; start nginx\.service/m);
    assert.match(text.stdout, /^ {2}units to start: nginx\.service$/m);
    assert.match(text.stdout, /^1 host: no change \(skipped\)\n {2}hosts: h3$/m);
  });

  /** A 2-wave rollout (h1, then tag:web) whose wave 1 fails its health gate. */
  async function haltedRollout(extra: string[]) {
    const commit = await bumpAll();
    const before = HOSTS.map(gen);
    const untouched = { h2: bed.activations('h2').length, h3: bed.activations('h3').length };
    writeFileSync(armed('h1'), '1\n');
    const r = await runCli(['deploy', '--rev', commit, '--wave', 'h1', '--wave', 'tag:web', '--max-in-flight', '2', '--yes', '--json', ...repo, ...extra, ...common]);
    assert.equal(existsSync(armed('h1')), false, 'the health check failed once (at the gate)');
    assert.equal(r.status, 1, r.stderr);
    const { summary, record } = JSON.parse(r.stdout) as { summary: DeploySummary; record: DeployRecord };
    const by = (h: string) => record.hosts.find((x) => x.host === h)!;
    assert.deepEqual(record.rollout!.waves.map((w) => [w.name, w.hosts, w.state]), [['h1', ['h1'], 'failed'], ['tag:web', ['h2', 'h3'], 'not-attempted']]);
    assert.equal(record.rollout!.haltedAt, 0);
    assert.equal(record.stoppedBy, 'h1');
    assert.deepEqual(by('h1').ops.map((o) => o.kind).slice(0, 3), ['build', 'switch', 'test'], 'h1 switched, then its gate ran the checks');
    assert.match(by('h1').failingLine ?? by('h1').error ?? '', /503 Service Unavailable/);
    assert.deepEqual(['h2', 'h3'].map((h) => by(h).outcome), ['not-attempted', 'not-attempted']);
    assert.match(summary.headline, /halted at wave 1 \(h1\) on h1/);
    // Wave progress on stderr, in the core's words.
    assert.match(r.stderr, /^wave 1\/2 h1: 0 of 1 switched, switching$[\s\S]*^wave 1\/2 h1: 1 of 1 switched, health gate$[\s\S]*^wave 1\/2 h1: .*failed; failed: h1$/m);
    assert.doesNotMatch(r.stderr, /^wave 2\/2 tag:web: .*switching$/m);
    // Wave 2 was never attempted: profiles and activation logs are as they were.
    assert.deepEqual([gen('h2'), gen('h3')], [before[1], before[2]]);
    assert.deepEqual({ h2: bed.activations('h2').length, h3: bed.activations('h3').length }, untouched);
    return { r, record, before };
  }

  it('wave 1 fails its health gate: halted, exit 1, wave 2 not attempted; without a terminal the switched host is kept', async () => {
    const { r, record, before } = await haltedRollout([]);
    assert.match(r.stderr, /no --on-failure and no terminal to ask on: .*\(keep\)/);
    assert.equal(record.rollout!.policyApplied, 'keep');
    const after = record.hosts.find((h) => h.host === 'h1')!.generationAfter!;
    assert.ok(after > before[0]!);
    assert.equal(gen('h1'), after, 'h1 stays on its new generation');
  });

  it('--on-failure rollback-wave: the failed wave\'s host goes back on disk', async () => {
    const { record, before } = await haltedRollout(['--on-failure', 'rollback-wave']);
    assert.equal(record.rollout!.policyApplied, 'rollback-wave');
    assert.equal(record.hosts.find((h) => h.host === 'h1')!.outcome, 'rolled-back');
    assert.equal(gen('h1'), before[0], 'h1 is back on the generation it had');
  });

  it('--retry-failed reruns only the failed host (the rollout stays halted before wave 2); --resume then runs wave 2', async () => {
    const audit = path.join(files.dir, 'audit.jsonl');
    const { record, before } = await haltedRollout(['--audit-log', audit]);
    assert.match(record.id, /^[a-z0-9]+$/);
    const activations = { h1: bed.activations('h1').length, h2: bed.activations('h2').length, h3: bed.activations('h3').length };
    // h1's check is disarmed now: the retry's switch and gate pass.
    const retried = await runCli(['deploy', '--retry-failed', record.id, '--audit-log', audit, '--yes', '--json', ...repo, ...common]);
    assert.equal(retried.status, 1, `halted before wave 2 until resumed: ${retried.stderr}`);
    const r1 = JSON.parse(retried.stdout) as { summary: DeploySummary; record: DeployRecord };
    assert.equal(r1.record.id, record.id, 'the same rollout, not a new one');
    assert.deepEqual(r1.record.rollout!.waves.map((w) => w.state), ['passed', 'not-attempted']);
    assert.deepEqual(r1.record.hosts.map((h) => [h.host, h.outcome]), [['h1', 'succeeded'], ['h2', 'not-attempted'], ['h3', 'not-attempted']]);
    assert.match(r1.summary.headline, /halted at wave 2 \(tag:web\)/);
    assert.match(retried.stderr, new RegExp(`continue it with nixfleet deploy --resume ${record.id} --audit-log `));
    assert.ok(bed.activations('h1').length > activations.h1, 'h1 switched again');
    assert.deepEqual([bed.activations('h2').length, bed.activations('h3').length], [activations.h2, activations.h3], 'a retry touches only the failed host');
    assert.deepEqual([gen('h2'), gen('h3')], [before[1], before[2]]);

    const resumed = await runCli(['deploy', '--resume', record.id, '--audit-log', audit, '--yes', '--json', ...repo, ...common]);
    assert.equal(resumed.status, 0, resumed.stderr);
    const r2 = JSON.parse(resumed.stdout) as { summary: DeploySummary; record: DeployRecord };
    assert.equal(r2.record.state, 'succeeded');
    assert.deepEqual(r2.record.rollout!.waves.map((w) => w.state), ['passed', 'passed']);
    assert.match(resumed.stderr, /^wave 2\/2 tag:web: 2 of 2 switched, passed$/m);
    for (const [i, h] of ['h2', 'h3'].entries()) assert.ok(gen(h) > before[i + 1]!, `${h} switched when resumed`);
    // The audit log's last word on the rollout is the resumed run's end.
    const last = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { deploy: string; event: string; state: string }).filter((e) => e.deploy === record.id).at(-1)!;
    assert.deepEqual([last.event, last.state], ['deploy.end', 'succeeded']);

    // Nothing left to continue: the finished rollout is refused, in one sentence.
    const again = await runCli(['deploy', '--resume', record.id, '--audit-log', audit, '--yes', ...common]);
    assert.equal(again.status, 2);
    assert.match(again.stderr.trim(), new RegExp(`^nixfleet: deploy: rollout ${record.id} succeeded: only a halted or interrupted rollout can be resumed$`));
    const unknown = await runCli(['deploy', '--retry-failed', 'nosuchid', '--audit-log', audit, '--yes', ...common]);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr.trim(), /^nixfleet: deploy: \S+audit\.jsonl has no deploy nosuchid; list them with jq/);
    const noLog = await runCli(['deploy', '--resume', record.id, '--yes', ...common]);
    assert.match(noLog.stderr.trim(), /^nixfleet: deploy: --resume reads the rollout from its audit log: add --audit-log FILE/);
  });

  it('preflight: a commit only in the clone is refused before any host is touched; after git push, --resume deploys it', async () => {
    const audit = path.join(files.dir, 'audit-preflight.jsonl');
    version++;
    for (const h of HOSTS) writeFileSync(path.join(bed.workstation, 'hosts', h, 'version'), `24.05.${version}\n`);
    const git = (...args: string[]) => execFileP('git', ['-C', bed.workstation, '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], { env: bed.env });
    await git('commit', '-q', '-am', `local only: 24.05.${version}`);
    const commit = (await git('rev-parse', 'HEAD')).stdout.trim();
    const before = HOSTS.map(gen);
    const activations = HOSTS.map((h) => bed.activations(h).length);
    const r = await runCli(['deploy', '--rev', commit, '--wave', 'h1', '--yes', '--json', '--audit-log', audit, ...repo, ...common]);
    assert.equal(r.status, 1, r.stderr);
    const { summary, record } = JSON.parse(r.stdout) as { summary: DeploySummary; record: DeployRecord };
    assert.equal(record.stoppedIn, 'preflight');
    assert.deepEqual(record.preflight!.map((p) => p.kind), ['unpushed']);
    assert.match(summary.headline, new RegExp(`stopped in preflight: commit ${commit.slice(0, 12)} is only local: push first \\(git push origin\\).*nothing was deployed`));
    assert.equal(summary.canPush, true);
    assert.equal(summary.canRollback || summary.canRevert, false, 'nothing was deployed: nothing to undo');
    assert.deepEqual(record.hosts.map((h) => h.ops.length), [0, 0, 0], 'no op ran on any host, not even the plan\'s build');
    assert.deepEqual(HOSTS.map((h) => bed.activations(h).length), activations);

    // Without --repo, outside a clone: no commit check, and that is said (nothing else runs: the question is refused).
    const elsewhere = await runCli(['deploy', '--rev', commit, '--wave', 'h1', '--repo', files.dir, '--yes', ...common]);
    assert.equal(elsewhere.status, 2);
    assert.match(elsewhere.stderr.trim(), /^nixfleet: deploy: --repo \S+ is not a git clone; give the nixcfg clone the hosts pull from$/);

    await git('push', '-q', 'origin', 'main');
    const resumed = await runCli(['deploy', '--resume', record.id, '--audit-log', audit, '--yes', '--json', ...repo, ...common]);
    assert.equal(resumed.status, 0, resumed.stderr);
    const done = JSON.parse(resumed.stdout) as { record: DeployRecord };
    assert.equal(done.record.state, 'succeeded');
    assert.equal(done.record.preflight, undefined);
    HOSTS.forEach((h, i) => assert.ok(gen(h) > before[i]!, `${h} switched to the pushed commit`));
  });

  it('without --on-failure on a terminal: the halted rollout asks, and the answer is applied', async () => {
    const commit = await bumpAll();
    const before = HOSTS.map(gen);
    writeFileSync(armed('h1'), '1\n');
    const cli = startCliOnTerminal(['deploy', '--rev', commit, '--wave', 'h1', '--wave', 'tag:web', ...repo, ...common]);
    await waitFor('the deploy question', async () => /Deploy commit \S+ to 3 hosts in 2 waves \(wave 1 h1: h1; wave 2 tag:web: h2, h3; at most 4 at once\)\? \[y\/N\]/.test(cli.stdout()), 60_000);
    cli.answer('y');
    await waitFor('the failure question', async () => /What happens to the hosts that already switched.*\[keep\/rollback-wave\/rollback-all\]/.test(cli.stdout()), 120_000);
    assert.match(cli.stdout(), /wave 1 \(h1\) failed on h1; the rollout halted and later waves will not run\./);
    cli.answer('maybe');
    await waitFor('the answer refused', async () => /Answer one of: keep, rollback-wave, rollback-all\./.test(cli.stdout()), 30_000);
    cli.answer('rollback-all');
    const r = await cli.done;
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stdout, /policy rollback-all|halted at wave 1 \(h1\) on h1/);
    assert.deepEqual(HOSTS.map(gen), before, 'h1 rolled back; h2 and h3 never switched');
  });

  it('bad --wave, --soak and --max-in-flight values: one sentence, exit 2, nothing connects', async () => {
    const commit = await bed.commit({ 'hosts/h1/version': '24.05.90\n' }, 'h1 only');
    const before = HOSTS.map((h) => bed.activations(h).length);
    const cases: [string[], RegExp][] = [
      [['--wave', 'h1,,h2'], /^nixfleet: deploy: --wave: wave "h1,,h2" has an empty part: write host names, tag:NAME or N% separated by commas$/],
      [['--wave', '150%'], /^nixfleet: deploy: --wave: "150%" is not a percentage from 1% to 100%$/],
      [['--wave', 'tag:nope'], /^nixfleet: deploy: no chosen host has tag nope .*nixfleetTags$/],
      [['--wave', 'h9'], /^nixfleet: deploy: wave "h9" names host h9, which is not among the hosts chosen for this deploy$/],
      [['--wave', 'h1', '--soak', 'soon'], /^nixfleet: deploy: --soak: "soon" is not a duration: write e\.g\. 30s, 5m or 1h$/],
      [['--wave', 'h1', '--soak', '30h'], /^nixfleet: deploy: --soak "30h" is longer than 24 hours; give at most 24h$/],
      [['--wave', 'h1', '--max-in-flight', '0'], /^nixfleet: deploy: --max-in-flight takes a whole number from 1 to 256, not "0"$/],
      [['--wave', 'h1', '--on-failure', 'pray'], /^nixfleet: deploy: --on-failure takes keep, rollback-wave or rollback-all, not "pray"$/],
      [['--soak', '5s'], /^nixfleet: deploy: --soak applies to a rollout in waves; add --wave HOSTS/],
    ];
    for (const [args, expected] of cases) {
      const r = await runCli(['deploy', '--rev', commit, '--yes', ...args, ...common]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr.trim(), expected, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one sentence');
    }
    assert.deepEqual(HOSTS.map((h) => bed.activations(h).length), before);
  });
});
