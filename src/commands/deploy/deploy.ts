// NixFleet: Deploy — a commit (the workspace's HEAD, or { commit }) or a merged PR's merge
// commit ({ pr }) to chosen hosts: canaries first, then the rest in parallel; a live
// summary; on failure a notification with Revert PR / Rollback Deployed Hosts / both.
//
// executeCommand('nixfleet.deploy', { hosts?, commit? | pr?, canaries?, parallelism?,
//   showClosureDiff?, confirm? }) resolves to the DeployRecord. Without `confirm: true`
// and with the closure diff on, it asks before switching (declining → state "declined").
import type { Container } from '../../container';
import { groupPlan, type FleetPlan } from '../../deploy/fleetPlan';
import type { DeployHost, DeployRecord } from '../../deploy/types';
import { offerUndo } from '../../flows/deployUndo';
import { showClosureDiff } from '../../ui/closureDiffDocument';
import { showDeploySummary } from '../../views/deploySummary';
import { defineCommand } from '../types';
import { chooseDeploy } from '../../flows/deployTarget';

/** Ask to proceed after showing the closure diffs (in a read-only document beside). */
async function askAfterDiff(c: Container, hosts: readonly DeployHost[], target: string, commit: string): Promise<boolean> {
  // The plan step's result first, grouped as Plan Deploy shows it (hosts with the same change together).
  const plan: FleetPlan = {
    id: 'preview',
    commit,
    madeAt: new Date().toISOString(),
    hosts: hosts.map((h) => (h.plan ? { host: h.host, state: 'planned', plan: h.plan, opId: '' } : { host: h.host, state: 'failed', opId: '', error: 'no plan: its agent predates the plan step' })),
  };
  const grouped = groupPlan(plan).map((g) => `${g.summary}\n  hosts: ${g.hosts.join(', ')}`).join('\n');
  const text = hosts
    .map((h) => `# ${h.host}${h.generationBefore !== undefined ? ` (generation ${h.generationBefore})` : ''}\n${h.closureDiff?.length ? h.closureDiff.join('\n') : '(no closure changes)'}\n`)
    .join('\n');
  await showClosureDiff(c.context, `Closure diff of ${target}`, `Plan of ${target}\n${grouped}\n\nClosure diff of ${target} per host (nix store diff-closures)\n\n${text}`);
  const changed = hosts.filter((h) => h.closureDiff?.length).length;
  const choice = await c.editor.showModalWarning(`Deploy ${target} to ${hosts.length} host(s)? ${changed} of them change (see the closure diff).`, undefined, 'Deploy');
  return choice === 'Deploy';
}

export default defineCommand({
  id: 'nixfleet.deploy',
  title: 'Deploy',
  mutating: true,
  async run(c, arg) {
    const { args, interactive, target, hosts } = await chooseDeploy(c, arg);
    const canaries = Array.isArray(args.canaries) ? (args.canaries as string[]) : c.settings.canaryHosts;
    const parallelism = typeof args.parallelism === 'number' ? args.parallelism : c.settings.deployParallelism;
    const showDiff = typeof args.showClosureDiff === 'boolean' ? args.showClosureDiff : c.settings.showClosureDiff;
    const magicRollback = c.settings.magicRollback;
    const label = target.pr ? `PR #${target.pr.number} (${target.commit.slice(0, 12)})` : target.commit.slice(0, 12);
    const who = await c.github.whoAmI();
    const service = c.deploys;
    const confirm = showDiff
      ? args.confirm === true
        ? async () => true
        : interactive
          ? (hs: readonly DeployHost[]) => askAfterDiff(c, hs, label, target.commit)
          : async () => false
      : undefined;
    if (interactive) showDeploySummary(c, undefined);
    const offFirst = service.onEvent.on((e) => {
      if (interactive && e.type === 'deploy') showDeploySummary(c, e.record);
    });
    let record: DeployRecord;
    try {
      record = await c.editor.withProgress({ title: `NixFleet: deploying ${label}`, cancellable: true }, (progress, signal) => {
        const off = service.onEvent.on((e) => {
          if (e.type === 'host' && e.host.outcome !== 'pending') progress.report(`${e.host.host}: ${e.host.phase ?? e.host.outcome}`);
        });
        return service.deploy({ target, hosts, canaries, parallelism, who }, { confirm, signal, magicRollback }).finally(off);
      });
    } finally {
      offFirst();
    }
    if (interactive) {
      showDeploySummary(c, record);
      if (record.state === 'failed') void offerUndo(c, record);
      else if (record.state === 'succeeded') void c.editor.showInformationMessage(`NixFleet: deployed ${label} to ${record.hosts.length} host(s).`);
    }
    return record;
  },
});
