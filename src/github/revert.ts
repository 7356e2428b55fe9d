// Revert a merged PR through the GitHub REST API, without a local clone.
//
// What GitHub's own "Revert" button makes is a commit on top of the base branch's head
// whose tree is that head's tree minus the PR's changes. Through the REST API we can only
// build that tree exactly when the base branch has not moved since the merge: then it is
// the tree of the commit before the PR (the merge's first parent). When the branch has
// moved, a tree-based revert would also undo the later commits, so we refuse and point to
// the local `git revert -m 1` route (src/gitops), which merges the revert with them.
import type { Octokit } from '@octokit/rest';
import { gitRef } from '../../protocol';
import { checkRepo, type GitHubRepo } from './client';
import { GitHubError, explain } from './errors';

export type RevertMode = 'pull-request' | 'direct';

/** A merged PR and the commit that holds the tree from before it. */
export interface MergedPullRequest {
  number: number;
  title: string;
  url: string;
  /** The branch the PR was merged into (e.g. "main"). */
  base: string;
  /** The commit GitHub recorded as the merge (a merge commit, or a squash/rebase result). */
  mergeCommit: string;
  /** The commit whose tree is the base branch before the PR. */
  beforeCommit: string;
  beforeTree: string;
  /** How the PR was merged, as far as the commit graph tells. */
  mergeKind: 'merge-commit' | 'single-commit';
}

export interface RevertResult {
  mode: RevertMode;
  pr: MergedPullRequest;
  /** The new commit; its tree equals `pr.beforeTree`, its parent the base head (the merge). */
  revertCommit: string;
  tree: string;
  /** PR mode: the branch holding the revert commit and the PR opened from it. */
  branch?: string;
  pullRequest?: { number: number; url: string };
  /** Direct mode: the base branch now points at `revertCommit`. */
  movedBranch?: string;
}

export interface RevertOptions {
  repo: GitHubRepo;
  pull: number;
  mode: RevertMode;
  /** PR mode: the branch to create; defaults to `revert-<pull>`. */
  branch?: string;
}

function checkPull(pull: number): void {
  if (!Number.isInteger(pull) || pull < 1 || pull > 2 ** 31) {
    throw new GitHubError('refused', `"${pull}" is not a pull request number: give a whole number such as 42`);
  }
}

/** Read PR `pull` and find the commit before it. Refuses PRs that are not merged. */
export async function findMergedPullRequest(octokit: Octokit, repo: GitHubRepo, pull: number): Promise<MergedPullRequest> {
  checkRepo(repo);
  checkPull(pull);
  const where = `${repo.owner}/${repo.repo}`;
  let pr;
  try {
    pr = (await octokit.rest.pulls.get({ ...repo, pull_number: pull })).data;
  } catch (err) {
    throw explain(err, `reading PR #${pull} of ${where}`);
  }
  if (!pr.merged || !pr.merge_commit_sha) {
    throw new GitHubError('refused', `PR #${pull} of ${where} is not merged (it is ${pr.state}): there is nothing to revert. Close it instead, or pick a merged PR.`);
  }
  const mergeCommit = pr.merge_commit_sha;
  let merge;
  try {
    merge = (await octokit.rest.git.getCommit({ ...repo, commit_sha: mergeCommit })).data;
  } catch (err) {
    throw explain(err, `reading merge commit ${mergeCommit.slice(0, 12)} of PR #${pull}`);
  }
  let mergeKind: MergedPullRequest['mergeKind'];
  if (merge.parents.length === 2) mergeKind = 'merge-commit';
  else if (merge.parents.length === 1 && pr.commits === 1) mergeKind = 'single-commit';
  else if (merge.parents.length === 1) {
    // A squash merge has one parent = the old base; a rebase merge of N commits has the old
    // base N commits back. The commit graph alone cannot tell them apart, so do not guess.
    throw new GitHubError(
      'refused',
      `PR #${pull} was merged as ${mergeCommit.slice(0, 12)} with one parent but has ${pr.commits} commits (a squash or rebase merge): NixFleet cannot tell which commit holds the tree from before it. Revert it locally with git revert of those commits.`,
    );
  } else {
    throw new GitHubError('refused', `Merge commit ${mergeCommit.slice(0, 12)} of PR #${pull} has ${merge.parents.length} parents: only two-parent merges can be reverted to their first parent.`);
  }
  const beforeCommit = merge.parents[0]!.sha;
  let before;
  try {
    before = (await octokit.rest.git.getCommit({ ...repo, commit_sha: beforeCommit })).data;
  } catch (err) {
    throw explain(err, `reading ${beforeCommit.slice(0, 12)}, the commit before PR #${pull}`);
  }
  return {
    number: pull,
    title: pr.title,
    url: pr.html_url,
    base: pr.base.ref,
    mergeCommit,
    beforeCommit,
    beforeTree: before.tree.sha,
    mergeKind,
  };
}

async function branchHead(octokit: Octokit, repo: GitHubRepo, branch: string): Promise<string | undefined> {
  try {
    return (await octokit.rest.git.getRef({ ...repo, ref: `heads/${branch}` })).data.object.sha;
  } catch (err) {
    if ((err as { status?: number }).status === 404 && (err as { response?: unknown }).response) return undefined;
    throw explain(err, `reading branch ${branch}`);
  }
}

/** Refuse when the base branch has commits after the merge (see the file comment). */
async function requireUnmovedBase(octokit: Octokit, repo: GitHubRepo, pr: MergedPullRequest): Promise<void> {
  const head = await branchHead(octokit, repo, pr.base);
  if (head === undefined) {
    throw new GitHubError('not-found', `Branch ${pr.base}, which PR #${pr.number} was merged into, no longer exists on GitHub: nothing to revert it on.`);
  }
  if (head !== pr.mergeCommit) {
    throw new GitHubError(
      'base-moved',
      `${pr.base} has moved since PR #${pr.number} was merged (it is at ${head.slice(0, 12)}, the merge is ${pr.mergeCommit.slice(0, 12)}): a revert built from the tree before the PR would also undo the later commits. Use the local route instead ("git revert -m 1 ${pr.mergeCommit.slice(0, 12)}" in your clone, then push), which keeps them.`,
    );
  }
}

async function createRevertCommit(octokit: Octokit, repo: GitHubRepo, pr: MergedPullRequest): Promise<string> {
  const message = `Revert "${pr.title}"\n\nThis reverts commit ${pr.mergeCommit}, the merge of PR #${pr.number},\nback to the tree of ${pr.beforeCommit}.`;
  try {
    const { data } = await octokit.rest.git.createCommit({ ...repo, message, tree: pr.beforeTree, parents: [pr.mergeCommit] });
    return data.sha;
  } catch (err) {
    throw explain(err, `creating the revert commit of PR #${pr.number} (nothing was changed on GitHub)`);
  }
}

/**
 * Revert merged PR `pull`: open a revert PR from a new branch (mode "pull-request", the
 * default in the UI), or move the base branch to the revert commit (mode "direct",
 * fast-forward only). Throws GitHubError; the message says what, if anything, was left behind.
 */
export async function revertPullRequest(octokit: Octokit, opts: RevertOptions): Promise<RevertResult> {
  const { repo, mode } = opts;
  const pr = await findMergedPullRequest(octokit, repo, opts.pull);
  await requireUnmovedBase(octokit, repo, pr);

  if (mode === 'direct') {
    const revertCommit = await createRevertCommit(octokit, repo, pr);
    try {
      await octokit.rest.git.updateRef({ ...repo, ref: `heads/${pr.base}`, sha: revertCommit, force: false });
    } catch (err) {
      const e = explain(err, `moving ${pr.base} to the revert commit ${revertCommit.slice(0, 12)}`);
      throw new GitHubError(e.kind, `${e.message} ${pr.base} was NOT changed; the unreferenced revert commit ${revertCommit.slice(0, 12)} is harmless (GitHub discards it). Retry, or open a revert PR instead.`, e.status, e.resetAt);
    }
    return { mode, pr, revertCommit, tree: pr.beforeTree, movedBranch: pr.base };
  }

  const branch = opts.branch ?? `revert-${pr.number}`;
  if (!gitRef.safeParse(branch).success) throw new GitHubError('refused', `"${branch}" is not a valid branch name for the revert`);
  const existing = await branchHead(octokit, repo, branch);
  if (existing !== undefined) {
    throw new GitHubError(
      'refused',
      `Branch ${branch} already exists on GitHub (at ${existing.slice(0, 12)}): a revert of PR #${pr.number} may already be open. Merge or close that PR and delete the branch, or choose another branch name.`,
    );
  }
  const revertCommit = await createRevertCommit(octokit, repo, pr);
  try {
    await octokit.rest.git.createRef({ ...repo, ref: `refs/heads/${branch}`, sha: revertCommit });
  } catch (err) {
    throw explain(err, `creating branch ${branch} for the revert of PR #${pr.number} (no branch or PR was created)`);
  }
  try {
    const { data } = await octokit.rest.pulls.create({
      ...repo,
      title: `Revert "${pr.title}"`,
      head: branch,
      base: pr.base,
      body: `Reverts ${repo.owner}/${repo.repo}#${pr.number} (merge ${pr.mergeCommit}).\n\nOpened by NixFleet after a failed deploy.`,
    });
    return { mode, pr, revertCommit, tree: pr.beforeTree, branch, pullRequest: { number: data.number, url: data.html_url } };
  } catch (err) {
    const e = explain(err, `opening the revert PR from ${branch}`);
    // Do not leave a stray branch behind without saying so.
    let cleanup: string;
    try {
      await octokit.rest.git.deleteRef({ ...repo, ref: `heads/${branch}` });
      cleanup = `The branch ${branch} it created was deleted again; nothing is left on GitHub.`;
    } catch (delErr) {
      cleanup = `The branch ${branch} (at ${revertCommit.slice(0, 12)}) was created and could NOT be deleted (${explain(delErr, 'deleting it').message}): open the PR from it on GitHub, or delete it there.`;
    }
    throw new GitHubError(e.kind, `${e.message} ${cleanup}`, e.status, e.resetAt);
  }
}
