// Undoing a deploy, behind the commands, the failure notification and the summary's buttons:
// Rollback Deployed Hosts (every host the deploy switched goes back to the generation it had
// before), Revert PR (on GitHub, or with git in the workspace clone), both. Each asks first,
// listing the hosts and what will happen, shows progress, then says how it went.
import { simpleGit } from 'simple-git';
import { COMMIT_RE } from '../../protocol';
import { describeRollback } from '../deploy/undo';
import { describeTarget, summarizeDeploy } from '../deploy/summary';
import type { DeployRecord } from '../deploy/types';
import { CancelledByUser } from '../editor/editor';
import { GitHubError } from '../github/errors';
import { findMergedPullRequest, type RevertMode } from '../github/revert';
import { findPullRequestMerge } from '../gitops/repo';
import type { FlowContext } from './context';
import { showError } from './fixes';
import { openLogsOnFailure } from './opProgress';

export interface UndoOptions {
  /** true: no prompts (tests, scripted use); the caller already confirmed. */
  confirmed?: boolean;
  interactive: boolean;
}

async function confirmModal(c: FlowContext, message: string, detail: string, action: string, keep: string, o: UndoOptions): Promise<void> {
  if (o.confirmed) return;
  if (!o.interactive) throw new Error(`${message}: pass confirm: true to do it without a prompt`);
  if (!(await c.editor.confirm({ message, detail, action, keep }))) throw new CancelledByUser();
}

export async function rollbackDeployFlow(c: FlowContext, record: DeployRecord, o: UndoOptions & { hosts?: string[] }): Promise<DeployRecord> {
  const lines = describeRollback(record, o.hosts);
  if (lines.length === 0) throw new Error(`no host of the deploy of ${describeTarget(record)} switched (or all are rolled back already): nothing to roll back`);
  await confirmModal(
    c,
    `Roll back ${lines.length} host${lines.length === 1 ? '' : 's'} to the generation they had before the deploy of ${describeTarget(record)}?`,
    lines.join('\n') + '\n\nEach host activates that generation again and runs its health checks.',
    'Roll Back',
    'Keep Deployed Generations',
    o,
  );
  const who = await c.github.whoAmI();
  const magicRollback = c.settings.magicRollback;
  const res = await c.editor.withProgress({ title: `NixFleet: rolling back ${lines.length} host(s)` }, () =>
    c.deploys.rollback(who, record, o.hosts, { magicRollback }),
  );
  const failed = res.hosts.filter((h) => h.outcome === 'rollback-failed');
  const msg = failed.length
    ? `Rollback failed on ${failed.map((h) => `${h.host} (${h.error ?? 'see its log'})`).join(', ')}; the other hosts are back on their pre-deploy generations.`
    : `Rolled back ${res.hosts.filter((h) => h.outcome === 'rolled-back').length} host(s) to their pre-deploy generations.`;
  if (failed[0]) openLogsOnFailure(c, failed[0].host);
  // Many hosts: their logs are one click away in the deploy summary; a failure names the first.
  if (o.interactive) void (failed.length ? c.editor.showErrorMessage(`NixFleet: ${msg}`, 'View Logs') : c.editor.showInformationMessage(`NixFleet: ${msg}`)).then((choice) => {
    if (choice === 'View Logs' && failed[0]) void c.logs.show(failed[0].host, false);
  });
  return res;
}

export interface RevertFlowOptions extends UndoOptions {
  pr?: number;
  /** "pull-request" (default), "direct", or "local" (git revert -m 1 in the workspace clone, then push). */
  mode?: RevertMode | 'local';
  commit?: string;
}

export type RevertOutcome =
  | { route: 'github'; mode: RevertMode; revertCommit: string; pullRequest?: { number: number; url: string }; branch?: string }
  | { route: 'git'; revertCommit: string; pushedTo?: string };

async function askPr(c: FlowContext, o: RevertFlowOptions, record: DeployRecord | undefined): Promise<number> {
  const known = o.pr ?? record?.target.pr?.number;
  if (known !== undefined) return known;
  if (!o.interactive) throw new Error('which PR? pass { pr: <number> }');
  const text = await c.editor.showInputBox({
    title: 'NixFleet: Revert PR',
    prompt: 'Number of the merged pull request to revert',
    validateInput: (v) => (/^[1-9][0-9]{0,9}$/.test(v.trim()) ? undefined : 'a pull request number, e.g. 42'),
  });
  if (!text) throw new CancelledByUser();
  return Number(text.trim());
}

async function revertLocal(c: FlowContext, commit: string, label: string, record: DeployRecord | undefined, o: UndoOptions): Promise<RevertOutcome> {
  const dir = c.workspaceDir;
  if (!dir) throw new Error('open the nixcfg clone as the workspace folder to revert with git');
  // Say exactly what will run: `-m 1` only for a merge commit (as gitops/revert does).
  const parents = (await simpleGit({ baseDir: dir }).raw(['rev-list', '--parents', '-n', '1', commit]).catch(() => '')).trim().split(' ').length - 1;
  await confirmModal(
    c,
    `Revert ${label} with git in ${dir} and push?`,
    `git revert --no-edit ${parents > 1 ? '-m 1 ' : ''}${commit.slice(0, 12)} on the current branch, then git push origin. The clone must be clean; a conflict aborts the revert and leaves it as it was.`,
    'Revert and Push',
    'Do Not Revert',
    o,
  );
  const who = await c.github.whoAmI();
  const res = await c.editor.withProgress({ title: `NixFleet: reverting ${label} with git` }, () => c.deploys.revertInClone(dir, commit, who, record));
  if (o.interactive) void c.editor.showInformationMessage(`NixFleet: reverted ${label} as ${res.revertCommit.slice(0, 12)}, pushed to ${res.pushedTo}. Hosts show their Lock/checkout as outdated until they pull.`);
  return { route: 'git', revertCommit: res.revertCommit, pushedTo: res.pushedTo };
}

/**
 * What "Revert PR" reverts when the user named nothing: asked, never guessed. The last deploy's
 * PR or commit is offered first; a PR number or a commit can be given instead. The deploy
 * record comes back only when its target was chosen (the revert is then tied to it).
 */
export async function pickRevertTarget(c: FlowContext, last: DeployRecord | undefined): Promise<{ pr?: number; commit?: string; record?: DeployRecord }> {
  // A deploy already reverted is not offered again (its summary offers no second revert either).
  const reverted = last?.revert;
  const items = [
    ...(last && !reverted
      ? [{ label: `$(history) ${last.target.pr ? `PR #${last.target.pr.number}` : `Commit ${last.target.commit.slice(0, 12)}`}, deployed last`, description: describeTarget(last), choice: 'deployed' as const }]
      : []),
    { label: '$(git-pull-request) A merged pull request…', description: 'by its number', choice: 'pr' as const },
    { label: '$(git-commit) A commit…', description: 'by its hash, reverted with git in the workspace clone', choice: 'commit' as const },
  ];
  const placeHolder = last && reverted ? `What to revert (the last deploy, ${describeTarget(last)}, is already reverted as ${reverted.revertCommit.slice(0, 12)})` : 'What to revert';
  const picked = await c.editor.showQuickPick(items, { title: 'NixFleet: Revert PR', placeHolder });
  if (!picked) throw new CancelledByUser();
  if (picked.choice === 'deployed') return last!.target.pr ? { pr: last!.target.pr.number, record: last } : { commit: last!.target.commit, record: last };
  if (picked.choice === 'pr') return { pr: await askPr(c, { interactive: true }, undefined) };
  const commit = await c.editor.showInputBox({
    title: 'NixFleet: Revert a commit',
    prompt: 'Hash of the commit to revert (git revert in the workspace clone, then push)',
    validateInput: (v) => (COMMIT_RE.test(v.trim()) ? undefined : 'a git commit hash: 7 to 64 hexadecimal characters'),
  });
  if (!commit) throw new CancelledByUser();
  return { commit: commit.trim() };
}

export async function revertFlow(c: FlowContext, record: DeployRecord | undefined, o: RevertFlowOptions): Promise<RevertOutcome> {
  // A commit (given, or the deploy of one rather than of a PR) is reverted as that commit, with git.
  const plainCommit = o.pr === undefined && o.mode === undefined && (o.commit !== undefined || (record !== undefined && !record.target.pr));
  const gh = plainCommit ? undefined : await c.github.access(o.interactive);
  if (!gh || o.mode === 'local') {
    // A plain git remote (or the user chose the local route): revert the merge commit.
    let commit = o.commit ?? record?.target.commit;
    let label = commit ? `commit ${commit.slice(0, 12)}` : '';
    if (o.pr !== undefined || (!o.commit && record?.target.pr)) {
      const pr = await askPr(c, o, record);
      const found = gh ? (await findMergedPullRequest(gh.octokit, gh.repo, pr)).mergeCommit : c.workspaceDir && (await findPullRequestMerge(c.workspaceDir, pr));
      if (!found) throw new Error(`no merge commit "Merge pull request #${pr} ..." in the workspace's history: give the commit to revert ({ commit })`);
      commit = found;
      label = `PR #${pr}`;
    }
    if (!commit) throw new Error('nothing to revert: deploy something first, or give { commit } or { pr }');
    return revertLocal(c, commit, label, record, o);
  }
  const number = await askPr(c, o, record);
  const pr = await findMergedPullRequest(gh.octokit, gh.repo, number);
  let mode = o.mode as RevertMode | undefined;
  if (!mode) {
    if (!o.interactive) mode = 'pull-request';
    else {
      const picked = await c.editor.showQuickPick(
        [
          { label: 'Open a revert PR', description: 'safer: review and merge it on GitHub', mode: 'pull-request' as const },
          { label: `Revert on ${pr.base} directly`, description: `a revert commit on top of ${pr.base} (fast-forward only)`, mode: 'direct' as const },
          { label: 'Revert locally with git and push', description: 'git revert -m 1 in the workspace clone: keeps commits made after the merge', mode: 'local' as const },
        ],
        { title: `NixFleet: Revert PR #${number} "${pr.title}"` },
      );
      if (!picked) throw new CancelledByUser();
      if (picked.mode === 'local') return revertLocal(c, pr.mergeCommit, `PR #${number}`, record, o);
      mode = picked.mode;
    }
  }
  await confirmModal(
    c,
    mode === 'direct' ? `Move ${pr.base} of ${gh.repo.owner}/${gh.repo.repo} to a revert of PR #${number}?` : `Open a PR that reverts PR #${number} of ${gh.repo.owner}/${gh.repo.repo}?`,
    `"${pr.title}" was merged as ${pr.mergeCommit.slice(0, 12)}. The revert commit gets the tree of ${pr.beforeCommit.slice(0, 12)} (before the merge)` +
      (mode === 'direct' ? ` and ${pr.base} moves to it.` : ` on a new branch revert-${number}, with a PR into ${pr.base}.`),
    mode === 'direct' ? 'Revert on ' + pr.base : 'Open Revert PR',
    'Do Not Revert',
    o,
  );
  try {
    const res = await c.deploys.revertOnGitHub(gh.octokit, gh.repo, number, mode, gh.login, record);
    if (o.interactive) {
      const text = res.pullRequest
        ? `NixFleet: opened revert PR #${res.pullRequest.number} for PR #${number}.`
        : `NixFleet: ${pr.base} now reverts PR #${number} (${res.revertCommit.slice(0, 12)}). Hosts show their checkout as outdated until they pull.`;
      void c.editor.showInformationMessage(text, ...(res.pullRequest ? ['Open PR'] : [])).then((choice) => {
        if (choice === 'Open PR' && res.pullRequest) void c.editor.openExternal(res.pullRequest.url);
      });
    }
    return { route: 'github', mode, revertCommit: res.revertCommit, pullRequest: res.pullRequest, branch: res.branch };
  } catch (err) {
    if (err instanceof GitHubError && err.kind === 'base-moved' && o.interactive) {
      const ok = await c.editor.confirm({ message: err.message, action: 'Revert Locally and Push', keep: 'Do Not Revert' });
      if (ok) return revertLocal(c, pr.mergeCommit, `PR #${number}`, record, { ...o, confirmed: true });
      throw new CancelledByUser();
    }
    throw err;
  }
}

/** An undo flow's error as a notification, with the command that fixes it (flows/fixes.ts). */
export function showFlowError(c: Pick<FlowContext, 'editor'>, err: unknown): void {
  void showError(c, `NixFleet: ${(err as Error).message}`, err);
}

/** The three ways to undo a deploy, each reporting its own error (the summary's buttons, the failure notification). */
export interface UndoActions {
  revert(record: DeployRecord): Promise<void>;
  rollback(record: DeployRecord): Promise<void>;
  revertAndRollback(record: DeployRecord): Promise<void>;
}

export function undoActions(c: FlowContext): UndoActions {
  const guard = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      if (!(err instanceof CancelledByUser)) showFlowError(c, err);
    }
  };
  const interactive = { interactive: true };
  return {
    revert: (r) => guard(() => revertFlow(c, r, interactive)),
    rollback: (r) => guard(() => rollbackDeployFlow(c, r, interactive)),
    revertAndRollback: (r) =>
      guard(async () => {
        await revertFlow(c, r, interactive);
        await rollbackDeployFlow(c, r, interactive);
      }),
  };
}

/** After a failed deploy: one notification with the ways out. */
export async function offerUndo(c: FlowContext, record: DeployRecord): Promise<void> {
  const s = summarizeDeploy(record);
  const took = record.hosts.filter((h) => h.switchStarted).map((h) => h.host);
  // Only the undo that applies: a deploy that switched no host has nothing to revert or roll back.
  const actions = [...(s.canRevert ? [s.revertLabel] : []), ...(s.canRollback ? ['Rollback Deployed Hosts'] : []), ...(s.canRevert && s.canRollback ? ['Revert + Rollback'] : []), 'View Logs', 'Dismiss'];
  const choice = await c.editor.showErrorMessage(
    `NixFleet: ${s.headline}. ${took.length ? `Switched: ${took.join(', ')}.` : 'No host switched.'}`,
    ...actions,
  );
  const undo = undoActions(c);
  switch (choice) {
    case s.revertLabel:
      return undo.revert(record);
    case 'Rollback Deployed Hosts':
      return undo.rollback(record);
    case 'Revert + Rollback':
      return undo.revertAndRollback(record);
    case 'View Logs': {
      const host = record.stoppedBy ?? record.hosts.find((h) => h.outcome.startsWith('failed'))?.host ?? record.hosts[0]?.host;
      if (host) c.logs.show(host, false);
      return;
    }
    default:
      return;
  }
}
