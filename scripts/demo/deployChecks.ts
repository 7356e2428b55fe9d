// Deploy (with a failing host), Plan Deploy, Revert PR and Rollback Deployed Hosts, through src/deploy's
// DeployService as the extension runs them (its fleetAgents adapter over the Fleet is
// replaced by the same two calls over the demo's agent clients), and Revert PR through the
// real Octokit client against the GitHub test server (loopback only) over the demo's origin.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AgentClient } from '../../src/fleet/agentClient';
import { planViewModel } from '../../src/deploy/planSelection';
import { DeployService } from '../../src/deploy/service';
import type { DeployAgents, DeployRecord } from '../../src/deploy/types';
import { createGitHubClient, gitHubLogin, type GitHubRepo } from '../../src/github/client';
import { GitHubTestServer, type TestUser } from '../../test/fixtures/githubTestServer';
import type { DemoFleet } from './fleet';
import { gitIn, profileGeneration, profileSystem, systemVersion } from './onDisk';

const REPO: GitHubRepo = { owner: 'acme', repo: 'nixcfg' };
const USER: TestUser = { login: 'demo-operator', id: 1, name: 'Demo Operator', email: 'demo@example.invalid' };

/** DeployAgents over the demo's clients: what src/deploy/fleetAgents.ts does over the Fleet. */
export function clientAgents(clients: Map<string, AgentClient>): DeployAgents {
  const get = (host: string) => {
    const c = clients.get(host);
    if (!c) throw new Error(`no agent client for host ${host}`);
    return c;
  };
  return {
    status: (host) => get(host).status(),
    async runOp(host, kind, params, opts) {
      const c = get(host);
      await c.startOp(opts.opId, kind, params, opts.magicRollback);
      return (await c.follow(opts.opId, opts.onOutput)).op;
    },
  };
}

export interface DeployScene {
  service: DeployService;
  server: GitHubTestServer;
  octokit: ReturnType<typeof createGitHubClient>;
  who: string;
  pr: number;
  merge: string;
  beforeMerge: string;
  record?: DeployRecord;
  close(): Promise<void>;
}

/**
 * A merged PR in the demo's origin (branch bump-<version> changing every host's version,
 * merged with --no-ff as GitHub's merge button does) and the GitHub test server over it.
 */
export async function prepareDeploy(fleet: DemoFleet, clients: Map<string, AgentClient>, version: string): Promise<DeployScene> {
  const ws = fleet.bed.workstation;
  const g = (...args: string[]) => gitIn(ws, ...args);
  await g('pull', '-q', '--rebase', 'origin', 'main'); // hosts pushed (Rebuild Smart, Update Agent)
  const beforeMerge = await g('rev-parse', 'HEAD');
  const branch = `bump-${version}`;
  await g('checkout', '-q', '-b', branch);
  for (const h of fleet.hosts) writeFileSync(path.join(ws, 'hosts', h.name, 'version'), version + '\n');
  await g('commit', '-q', '-am', `hosts: system version ${version}`);
  await g('push', '-q', 'origin', branch);
  await g('checkout', '-q', 'main');
  const token = randomBytes(20).toString('hex');
  const server = await GitHubTestServer.start({ gitDir: fleet.bed.origin, ...REPO, users: { [token]: USER } });
  try {
    const pr = 1;
    await g('merge', '-q', '--no-ff', '-m', `Merge pull request #${pr} from ${REPO.owner}/${branch}`, branch);
    await g('push', '-q', 'origin', 'main');
    await server.recordMergedPullRequest({ number: pr, title: `Bump the fleet to ${version}`, head: branch, base: 'main', user: USER });
    const octokit = createGitHubClient({ token, baseUrl: server.baseUrl });
    const service = new DeployService({ agents: clientAgents(clients), auditFile: path.join(fleet.bed.root, 'deploy-audit.jsonl') });
    return { service, server, octokit, who: await gitHubLogin(octokit), pr, merge: await g('rev-parse', 'HEAD'), beforeMerge, close: () => server.close() };
  } catch (err) {
    await server.close();
    throw err;
  }
}

/** Deploy the PR to every host, h1 as canary, one at a time; the second host's activation fails. */
export async function deployWithFailingHost(fleet: DemoFleet, s: DeployScene, version: string): Promise<string> {
  const [canary, failing, rest] = fleet.hosts;
  if (!canary || !failing || !rest) throw new Error('the deploy check needs 3 hosts');
  const before = new Map(fleet.hosts.map((h) => [h.name, profileGeneration(h.profile)]));
  fleet.bed.setFail(failing.name, true);
  let record: DeployRecord;
  try {
    record = await s.service.deploy({ target: { commit: s.merge, pr: { number: s.pr, repo: `${REPO.owner}/${REPO.repo}` } }, hosts: fleet.hosts.map((h) => h.name), canaries: [canary.name], parallelism: 1, who: s.who });
  } finally {
    fleet.bed.setFail(failing.name, false);
  }
  s.record = record;
  const by = Object.fromEntries(record.hosts.map((h) => [h.host, h]));
  const want = (cond: boolean, what: string) => {
    if (!cond) throw new Error(`${what} (deploy ${record.state}: ${record.hosts.map((h) => `${h.host} ${h.outcome}`).join(', ')})`);
  };
  want(record.state === 'failed' && record.stoppedBy === failing.name, `expected the deploy to fail, stopped by ${failing.name}`);
  want(by[canary.name]?.outcome === 'succeeded' && profileGeneration(canary.profile) === by[canary.name]?.generationAfter && systemVersion(canary) === version, `${canary.name} should run ${version}`);
  want(by[failing.name]?.outcome === 'failed-switch' && profileGeneration(failing.profile) === before.get(failing.name), `${failing.name} should have failed and be back on generation ${before.get(failing.name)}`);
  want(by[rest.name]?.outcome === 'not-attempted' && profileGeneration(rest.profile) === before.get(rest.name), `${rest.name} should not have been touched`);
  const audit = readFileSync(s.service.audit.file, 'utf8');
  want(audit.includes('"deploy.end"'), `the audit log ${s.service.audit.file} has no deploy.end`);
  return `PR #${s.pr} (${s.merge.slice(0, 7)}): ${canary.name} (canary) → generation ${by[canary.name]!.generationAfter}; ${failing.name} failed ("${by[failing.name]!.failingLine ?? by[failing.name]!.error}") and is back on ${before.get(failing.name)}; ${rest.name} not attempted`;
}

export async function revertPr(fleet: DemoFleet, s: DeployScene): Promise<string> {
  if (!s.record) throw new Error('no deploy to revert');
  // Without a prompt the extension opens a revert PR (the safer route).
  const res = await s.service.revertOnGitHub(s.octokit, REPO, s.pr, 'pull-request', s.who, s.record);
  const origin = fleet.bed.origin;
  const tip = await gitIn(origin, 'rev-parse', `refs/heads/${res.branch}`);
  if (tip !== res.revertCommit) throw new Error(`branch ${res.branch} is at ${tip}, the revert commit is ${res.revertCommit}`);
  const [tipTree, beforeTree] = await Promise.all([gitIn(origin, 'rev-parse', `${tip}^{tree}`), gitIn(origin, 'rev-parse', `${s.beforeMerge}^{tree}`)]);
  if (tipTree !== beforeTree) throw new Error(`the revert commit's tree ${tipTree.slice(0, 7)} is not the tree before the merge (${beforeTree.slice(0, 7)})`);
  const opened = res.pullRequest && s.server.pulls.get(res.pullRequest.number);
  if (!opened || opened.state !== 'open') throw new Error('no open revert PR on the GitHub test server');
  if (s.record.revert?.revertCommit !== res.revertCommit) throw new Error('the deploy record does not note the revert');
  return `revert PR #${opened.number} from ${res.branch} (${tip.slice(0, 7)}, the tree before PR #${s.pr}) on the GitHub test server ${s.server.baseUrl}`;
}

export async function rollbackDeployedHosts(fleet: DemoFleet, s: DeployScene): Promise<string> {
  if (!s.record) throw new Error('no deploy to roll back');
  const record = await s.service.rollback(s.who, s.record);
  const moved = record.hosts.filter((h) => h.rollback?.outcome === 'rolled-back');
  if (moved.length === 0) throw new Error(`no host was rolled back: ${record.hosts.map((h) => `${h.host} ${h.outcome}/${h.rollback?.outcome ?? '-'}`).join(', ')}`);
  for (const h of record.hosts) {
    if (h.rollback?.outcome === 'rollback-failed') throw new Error(`rolling back ${h.host} failed: ${h.rollback.error}`);
    const host = fleet.hosts.find((x) => x.name === h.host)!;
    if (h.switchStarted && h.generationBefore !== undefined && profileGeneration(host.profile) !== h.generationBefore) {
      throw new Error(`${h.host}'s profile is at generation ${profileGeneration(host.profile)}, not its pre-deploy ${h.generationBefore}`);
    }
  }
  if (!existsSync(s.service.audit.file)) throw new Error('the deploy audit log is missing');
  return moved.map((h) => `${h.host} back on generation ${h.generationBefore}`).join(', ') + `; ${record.hosts.filter((h) => h.rollback?.outcome === 'unchanged').map((h) => h.host).join(', ') || 'no host'} already there`;
}

/**
 * Plan Deploy of the PR after the deploy stopped, as the extension's plan view builds it
 * (DeployService.plan, then the view's model): the canary, already on the PR, is "no change"
 * and not ticked; the hosts the deploy did not bring there would change from the version their
 * profile runs to the PR's, each with its own change set; no profile moved.
 */
export async function planDeploy(fleet: DemoFleet, s: DeployScene, version: string): Promise<string> {
  const [canary] = fleet.hosts;
  if (!canary) throw new Error('the plan check needs the canary');
  const before = new Map(fleet.hosts.map((h) => [h.name, { generation: profileGeneration(h.profile), system: profileSystem(h.profile), version: systemVersion(h) }]));
  const plan = await s.service.plan(s.merge, fleet.hosts.map((h) => h.name));
  const model = planViewModel(plan);
  const failed = plan.hosts.filter((h) => h.state !== 'planned');
  if (failed.length) throw new Error(`the plan failed on ${failed.map((h) => `${h.host} (${h.error})`).join(', ')}`);
  for (const h of fleet.hosts) {
    const was = before.get(h.name)!;
    if (profileGeneration(h.profile) !== was.generation) throw new Error(`planning moved ${h.name}'s profile from generation ${was.generation} to ${profileGeneration(h.profile)}`);
    const p = plan.hosts.find((x) => x.host === h.name)!.plan!;
    if (p.currentStorePath !== was.system) throw new Error(`${h.name}'s plan starts from ${p.currentStorePath}, its profile runs ${was.system}`);
  }
  const groupOf = (host: string) => model.groups.find((g) => g.hosts.includes(host));
  const noChange = groupOf(canary.name);
  if (noChange?.kind !== 'no-change' || noChange.rows.find((r) => r.host === canary.name)?.selected !== false) {
    throw new Error(`${canary.name} already runs PR #${s.pr} but its plan is not "no change" (${noChange?.summary ?? 'in no group'})`);
  }
  const changed = fleet.hosts.filter((h) => h !== canary);
  for (const h of changed) {
    const g = groupOf(h.name);
    const was = before.get(h.name)!.version;
    if (g?.kind !== 'change' || !g.packages.some((c) => c.from.includes(was) && c.to.includes(version))) {
      throw new Error(`${h.name} runs ${was}: its plan should change it to ${version} (${g?.summary ?? 'in no group'})`);
    }
  }
  const ticked = model.groups.flatMap((g) => g.rows).filter((r) => r.selected).map((r) => r.host);
  if (ticked.sort().join() !== changed.map((h) => h.name).sort().join()) throw new Error(`the plan ticks ${ticked.join(', ') || 'no host'}, not the hosts with a change`);
  return `${model.headline}; ${model.groups.map((g) => `[${g.hosts.join(', ')}] ${g.summary.replace(/^\d+ hosts?: /, '')}`).join('; ')}; no profile moved`;
}
