// NixFleet: Deploy — a commit (the workspace's HEAD, or { commit }) or a merged PR's merge
// commit ({ pr }) to chosen hosts: canaries first, then the rest in parallel; a live
// summary; on failure a notification with Revert PR / Rollback Deployed Hosts / both.
//
// executeCommand('nixfleet.deploy', { hosts?, commit? | pr?, canaries?, parallelism?,
//   showClosureDiff?, confirm? }) resolves to the DeployRecord. Without `confirm: true`
// and with the closure diff on, it asks before switching (declining → state "declined").
import { commitHash, hostName } from '../../../protocol';
import type { Container } from '../../container';
import type { DeployHost, DeployRecord, DeployTarget } from '../../deploy/types';
import { CancelledByUser } from '../../editor/editor';
import { asArgs, isProgrammatic } from '../../flows/args';
import { offerUndo } from '../../flows/deployUndo';
import { findMergedPullRequest } from '../../github/revert';
import { findPullRequestMerge } from '../../gitops/repo';
import { headCommit } from '../../gitops/revert';
import { showClosureDiff } from '../../ui/closureDiffDocument';
import { showDeploySummary } from '../../views/deploySummary';
import { defineCommand } from '../types';

async function resolveTarget(c: Container, args: Record<string, unknown>, interactive: boolean): Promise<DeployTarget> {
  if (args.commit !== undefined) {
    if (typeof args.commit !== 'string' || !commitHash.safeParse(args.commit).success) throw new Error(`"${String(args.commit)}" is not a commit hash`);
    return { commit: args.commit };
  }
  let pr = args.pr;
  if (pr === undefined && interactive) {
    const dir = c.workspaceDir;
    const head = dir ? await headCommit(dir).catch(() => undefined) : undefined;
    const picked = await c.editor.showQuickPick(
      [
        ...(head ? [{ label: `$(git-commit) Workspace commit ${head.commit.slice(0, 12)}`, description: `${head.branch ?? 'detached'}${head.dirty ? ' · uncommitted changes are NOT deployed' : ''}`, pick: 'head' as const }] : []),
        { label: '$(git-merge) A merged pull request…', description: "deploys the PR's merge commit", pick: 'pr' as const },
      ],
      { title: 'NixFleet: Deploy what?' },
    );
    if (!picked) throw new CancelledByUser();
    if (picked.pick === 'head') return { commit: head!.commit };
    const text = await c.editor.showInputBox({ title: 'NixFleet: Deploy a PR', prompt: 'Number of the merged pull request', validateInput: (v) => (/^[1-9][0-9]{0,9}$/.test(v.trim()) ? undefined : 'a pull request number') });
    if (!text) throw new CancelledByUser();
    pr = Number(text.trim());
  }
  if (pr !== undefined) {
    if (typeof pr !== 'number' || !Number.isInteger(pr) || pr < 1) throw new Error(`"${String(pr)}" is not a pull request number`);
    const gh = await c.github.access(interactive);
    if (gh) {
      const merged = await findMergedPullRequest(gh.octokit, gh.repo, pr);
      return { commit: merged.mergeCommit, pr: { number: pr, title: merged.title, url: merged.url, repo: `${gh.repo.owner}/${gh.repo.repo}` } };
    }
    const dir = c.workspaceDir;
    const merge = dir ? await findPullRequestMerge(dir, pr) : undefined;
    if (!merge) throw new Error(`no merge commit "Merge pull request #${pr} ..." in the workspace's history (fetch first?), and origin is not on GitHub`);
    return { commit: merge, pr: { number: pr } };
  }
  const dir = c.workspaceDir;
  if (!dir) throw new Error('no workspace folder: give { commit } or { pr }, or open the nixcfg clone');
  return { commit: (await headCommit(dir)).commit };
}

async function resolveHosts(c: Container, args: Record<string, unknown>, interactive: boolean): Promise<string[]> {
  if (args.hosts !== undefined) {
    if (!Array.isArray(args.hosts) || args.hosts.some((h) => typeof h !== 'string' || !hostName.safeParse(h).success)) throw new Error('hosts must be a list of host names');
    for (const h of args.hosts as string[]) if (!c.fleet.host(h)?.entry) throw new Error(`host ${h} has no agent configured: add it with "NixFleet: Add Host"`);
    return args.hosts as string[];
  }
  const configured = c.fleet.configuredHosts();
  if (configured.length === 0) throw new Error('no host has an agent configured: add one with "NixFleet: Add Host"');
  if (!interactive) return configured.map((h) => h.name);
  const canaries = c.settings.canaryHosts;
  const picked = await c.editor.showQuickPickMany(
    configured.map((h) => ({ label: h.name, description: `${h.platform}${canaries.includes(h.name) ? ' · canary' : ''} · ${h.connection}`, picked: true })),
    { title: 'NixFleet: Deploy to which hosts?' },
  );
  if (!picked || picked.length === 0) throw new CancelledByUser();
  return picked.map((p) => p.label);
}

/** Ask to proceed after showing the closure diffs (in a read-only document beside). */
async function askAfterDiff(c: Container, hosts: readonly DeployHost[], target: string): Promise<boolean> {
  const text = hosts
    .map((h) => `# ${h.host}${h.generationBefore !== undefined ? ` (generation ${h.generationBefore})` : ''}\n${h.closureDiff?.length ? h.closureDiff.join('\n') : '(no closure changes)'}\n`)
    .join('\n');
  await showClosureDiff(c.context, `Closure diff of ${target}`, `Closure diff of ${target} per host (nix store diff-closures)\n\n${text}`);
  const changed = hosts.filter((h) => h.closureDiff?.length).length;
  const choice = await c.editor.showModalWarning(`Deploy ${target} to ${hosts.length} host(s)? ${changed} of them change (see the closure diff).`, undefined, 'Deploy');
  return choice === 'Deploy';
}

export default defineCommand({
  id: 'nixfleet.deploy',
  title: 'Deploy',
  mutating: true,
  async run(c, arg) {
    await c.ensureStarted();
    const args = asArgs(arg) as Record<string, unknown>;
    const interactive = !isProgrammatic(arg);
    const target = await resolveTarget(c, args, interactive);
    const hosts = await resolveHosts(c, args, interactive);
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
          ? (hs: readonly DeployHost[]) => askAfterDiff(c, hs, label)
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
