// Rollouts from the editor (Plan Deploy's "Deploy", the summary's Resume and Retry Failed
// Hosts): the rollout laid out from the settings (waves, soak, limits, policy), run under a
// cancellable progress notification with the workspace clone for preflight's commit check,
// then one notification that offers only what makes sense for how it ended: Push and Try
// Again after a preflight refusal (nothing was deployed), Retry Failed Hosts and Resume after
// a halt. No vscode import: the summary panel passes in how the "ask" policy asks.
import type { FleetPlan } from '../deploy/fleetPlan';
import { planFor } from '../deploy/planSelection';
import type { RolloutOptions, RolloutPlanOptions } from '../deploy/rollout';
import { readFlakeTags } from '../deploy/hostTags';
import { entryTags, mergeTags } from '../deploy/rolloutWaves';
import { summarizeDeploy } from '../deploy/summary';
import type { DeployRecord, DeployTarget } from '../deploy/types';
import { CancelledByUser } from '../editor/editor';
import { pushCommit } from '../gitops/push';
import { commitOnRemote } from '../gitops/repo';
import type { FlowContext } from './context';

export type AskPolicy = NonNullable<RolloutOptions['ask']>;

/** The rollout of `hosts` as the settings lay it out (canaries, waves, soak, limits, policy). */
export async function rolloutFromSettings(c: FlowContext, target: DeployTarget, hosts: readonly string[], who: string, opts: { trusted: boolean }): Promise<RolloutPlanOptions> {
  const s = c.settings.rollout;
  let tags = entryTags(c.fleet.configuredHosts().map((h) => ({ name: h.name, tags: h.entry?.tags })));
  // The flake's nixfleetTags only when a wave names a tag: reading them evaluates the flake.
  if (s.waves.some((w) => w.includes('tag:')) && c.workspaceDir && opts.trusted) {
    const flake = await readFlakeTags(c.workspaceDir).catch(() => undefined);
    if (flake) tags = mergeTags(tags, flake.tags);
  }
  return { target, hosts, canaries: c.settings.canaryHosts, waves: s.waves, tags, soakMs: s.soakMs, maxInFlight: s.maxInFlight, failuresTolerated: s.failuresTolerated, onFailure: s.onFailure, who };
}

export interface RolloutRun {
  ask: AskPolicy;
  /** Called with each record as it starts, so the summary shows it live. */
  onRecord?: (r: DeployRecord) => void;
}

type Start = (extras: Pick<RolloutOptions, 'repoDir' | 'ask' | 'signal' | 'magicRollback'>) => Promise<DeployRecord>;

async function withRolloutProgress(c: FlowContext, title: string, start: Start, run: RolloutRun): Promise<DeployRecord> {
  const repoDir = c.workspaceDir;
  const magicRollback = c.settings.magicRollback;
  const off = c.deploys.onEvent.on((e) => {
    if (e.type === 'deploy') run.onRecord?.(e.record);
  });
  try {
    return await c.editor.withProgress({ title, cancellable: true }, (progress, signal) => {
      const offHost = c.deploys.onEvent.on((e) => {
        if (e.type === 'wave') progress.report(`wave ${e.index + 1} (${e.wave.name}): ${e.wave.state}`);
        else if (e.type === 'host' && e.host.outcome !== 'pending') progress.report(`${e.host.host}: ${e.host.phase ?? e.host.outcome}`);
      });
      return start({ ...(repoDir ? { repoDir } : {}), ask: run.ask, signal, magicRollback }).finally(offHost);
    });
  } finally {
    off();
  }
}

/** Deploy from a plan the user saw: the plan step is skipped (the plan is reused for `hosts`). */
export async function deployFromPlan(c: FlowContext, plan: FleetPlan, hosts: readonly string[], run: RolloutRun, opts: { trusted: boolean }): Promise<DeployRecord> {
  const who = await c.github.whoAmI();
  const layout = await rolloutFromSettings(c, { commit: plan.commit }, hosts, who, opts);
  const record = await withRolloutProgress(c, `NixFleet: deploying ${plan.commit.slice(0, 12)} to ${hosts.length} host(s)`, (x) => c.deploys.rollout(layout, { ...x, plan: planFor(plan, hosts) }), run);
  return afterRollout(c, record, run);
}

/** Resume a halted or interrupted rollout (after a preflight refusal: start it over). */
export async function resumeRolloutFlow(c: FlowContext, record: DeployRecord, run: RolloutRun): Promise<DeployRecord> {
  const done = await withRolloutProgress(c, `NixFleet: resuming the rollout of ${record.target.commit.slice(0, 12)}`, (x) => c.deploys.resume(record, x), run);
  return afterRollout(c, done, run);
}

/** Rerun only the hosts that failed. */
export async function retryFailedFlow(c: FlowContext, record: DeployRecord, run: RolloutRun): Promise<DeployRecord> {
  const done = await withRolloutProgress(c, `NixFleet: retrying the failed hosts of ${record.target.commit.slice(0, 12)}`, (x) => c.deploys.retryFailed(record, x), run);
  return afterRollout(c, done, run);
}

/** Preflight said the commit is only local: push it (the clone's branch), then try the rollout again. */
export async function pushAndRetry(c: FlowContext, record: DeployRecord, run: RolloutRun): Promise<DeployRecord> {
  const dir = c.workspaceDir;
  if (!dir) throw new Error('open the nixcfg clone as the workspace folder to push from it');
  const pushed = await c.editor.withProgress({ title: `NixFleet: pushing ${record.target.commit.slice(0, 12)}` }, () => pushCommit(dir, record.target.commit));
  void c.editor.showInformationMessage(`NixFleet: pushed ${record.target.commit.slice(0, 12)} to ${pushed.pushedTo}; running preflight again.`);
  return resumeRolloutFlow(c, record, run);
}

/**
 * Before anything builds: the commit must be on origin, where the hosts fetch it. Only in the
 * workspace clone: offer Push (interactive) and push it, else refuse saying so. Outside a
 * clone, or when origin cannot be asked, the hosts' own fetch will tell.
 */
export async function ensurePushed(c: FlowContext, commit: string, interactive: boolean): Promise<void> {
  const dir = c.workspaceDir;
  if (!dir) return;
  const where = await commitOnRemote(dir, commit);
  if (where.where !== 'local-only') return;
  const text = `commit ${commit.slice(0, 12)} is only in the workspace clone: the hosts fetch from origin, so push it first`;
  if (!interactive) throw new Error(`${text} (git push origin)`);
  const choice = await c.editor.showWarningMessage(`NixFleet: ${text}.`, 'Push');
  if (choice !== 'Push') throw new CancelledByUser();
  const pushed = await c.editor.withProgress({ title: `NixFleet: pushing ${commit.slice(0, 12)}` }, () => pushCommit(dir, commit));
  void c.editor.showInformationMessage(`NixFleet: pushed ${commit.slice(0, 12)} to ${pushed.pushedTo}.`);
}

/** One notification for how the rollout ended, with only the actions that make sense. */
async function afterRollout(c: FlowContext, record: DeployRecord, run: RolloutRun): Promise<DeployRecord> {
  const s = summarizeDeploy(record);
  if (record.state === 'succeeded') {
    void c.editor.showInformationMessage(`NixFleet: ${s.headline}.`);
    return record;
  }
  if (record.state !== 'failed') return record;
  // Nothing was deployed: no revert, no rollback; Push when that is what preflight wants.
  const actions = record.stoppedIn === 'preflight' ? [...(s.canPush ? ['Push'] : []), 'Try Again'] : [...(s.retryHosts.length ? ['Retry Failed Hosts'] : []), ...(s.canResume ? ['Resume'] : []), 'View Logs'];
  void c.editor.showErrorMessage(`NixFleet: ${s.headline}`, ...actions).then(async (choice) => {
    try {
      if (choice === 'Push') await pushAndRetry(c, record, run);
      else if (choice === 'Try Again' || choice === 'Resume') await resumeRolloutFlow(c, record, run);
      else if (choice === 'Retry Failed Hosts') await retryFailedFlow(c, record, run);
      else if (choice === 'View Logs') {
        const host = record.stoppedBy ?? s.retryHosts[0];
        if (host) c.logs.show(host, false);
      }
    } catch (err) {
      void c.editor.showErrorMessage(`NixFleet: ${(err as Error).message}`);
    }
  });
  return record;
}
