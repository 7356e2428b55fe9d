// What a deploy or a plan is of, and to which hosts: from the command's argument object, or
// asked (the workspace's HEAD or a merged PR; every configured host preselected).
import { commitHash, hostName } from '../../protocol';
import type { DeployTarget } from '../deploy/types';
import { CancelledByUser } from '../editor/editor';
import { findMergedPullRequest } from '../github/revert';
import { findPullRequestMerge } from '../gitops/repo';
import { headCommit } from '../gitops/revert';
import { asArgs, isProgrammatic } from './args';
import type { FlowContext } from './context';
import { FIXES, FixableError } from './fixes';
import { ensurePushed } from './deployRollout';

async function resolveTarget(c: FlowContext, args: Record<string, unknown>, interactive: boolean): Promise<DeployTarget> {
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

async function resolveHosts(c: FlowContext, args: Record<string, unknown>, interactive: boolean): Promise<string[]> {
  if (args.hosts !== undefined) {
    if (!Array.isArray(args.hosts) || args.hosts.some((h) => typeof h !== 'string' || !hostName.safeParse(h).success)) throw new Error('hosts must be a list of host names');
    for (const h of args.hosts as string[]) if (!c.fleet.host(h)?.entry) throw new FixableError(`host ${h} has no agent configured: add it with "NixFleet: Add Host"`, FIXES.addHost(h));
    return args.hosts as string[];
  }
  const configured = c.fleet.configuredHosts();
  if (configured.length === 0) throw new FixableError('no host has an agent configured: add one with "NixFleet: Add Host"', FIXES.addHost());
  if (!interactive) return configured.map((h) => h.name);
  const canaries = c.settings.canaryHosts;
  const picked = await c.editor.showQuickPickMany(
    configured.map((h) => ({ label: h.name, description: `${h.platform}${canaries.includes(h.name) ? ' · canary' : ''} · ${h.connection}`, picked: true })),
    { title: 'NixFleet: Deploy to which hosts?' },
  );
  if (!picked || picked.length === 0) throw new CancelledByUser();
  return picked.map((p) => p.label);
}

/**
 * What a Deploy or Plan Deploy is of and to which hosts (asked when `arg` is not an argument
 * object), once the commit is on origin (Push offered when it is only in the clone).
 */
export async function chooseDeploy(c: FlowContext, arg: unknown): Promise<{ args: Record<string, unknown>; interactive: boolean; target: DeployTarget; hosts: string[] }> {
  await c.ensureStarted();
  const args = asArgs(arg) as Record<string, unknown>;
  const interactive = !isProgrammatic(arg);
  const target = await resolveTarget(c, args, interactive);
  const hosts = await resolveHosts(c, args, interactive);
  // Preflight's commit check: a commit the hosts cannot fetch would fail on every host.
  await ensurePushed(c, target.commit, interactive);
  return { args, interactive, target, hosts };
}
