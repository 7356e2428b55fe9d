// Revert a merged PR through the GitHub REST API, without a local clone.
//
// What GitHub's own "Revert" button makes is a commit on top of the base branch's head
// whose tree is that head's tree minus the PR's changes. When the base branch has not moved
// since the merge, that tree is simply the tree of the commit before the PR (the merge's
// first parent). When it has moved, the revert tree is built with the Git Trees API: the
// head's tree with every file the PR changed set back to its pre-PR content, which is
// exactly what `git revert -m 1` gives when no later commit touched those files. When one
// did, the two changes must be merged by hand: we refuse, name the files, and point to the
// local `git revert -m 1` route (src/gitops), which merges or stops on the conflict.
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
  /** The tree of the merge commit (the base branch right after the PR). */
  mergeTree: string;
  /** How the PR was merged, as far as the commit graph tells. */
  mergeKind: 'merge-commit' | 'single-commit';
}

export interface RevertResult {
  mode: RevertMode;
  pr: MergedPullRequest;
  /**
   * The new commit: its parent is the base branch's head, its tree that head's tree without
   * the PR's changes (`pr.beforeTree` itself when the branch had not moved since the merge).
   */
  revertCommit: string;
  tree: string;
  /** The base branch head the revert sits on: the merge, or a later commit. */
  onTopOf: string;
  /** Files the revert changes back; empty when the branch had not moved (the whole tree is restored). */
  revertedFiles: string[];
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
    mergeTree: merge.tree.sha,
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

/** A file in a tree listing: what the revert compares and restores. */
interface TreeFile {
  mode: string;
  type: string;
  sha: string;
}

async function listFiles(octokit: Octokit, repo: GitHubRepo, tree: string, what: string): Promise<Map<string, TreeFile>> {
  let data;
  try {
    data = (await octokit.rest.git.getTree({ ...repo, tree_sha: tree, recursive: 'true' })).data;
  } catch (err) {
    throw explain(err, `reading the tree of ${what}`);
  }
  if (data.truncated) {
    throw new GitHubError('refused', `The tree of ${what} is too large for GitHub to list in one answer: revert locally instead ("git revert -m 1" in your clone, then push).`);
  }
  const files = new Map<string, TreeFile>();
  for (const e of data.tree) {
    if (e.type !== 'tree' && e.path && e.mode && e.type && e.sha) files.set(e.path, { mode: e.mode, type: e.type, sha: e.sha });
  }
  return files;
}

const sameFile = (a: TreeFile | undefined, b: TreeFile | undefined) => a?.sha === b?.sha && a?.mode === b?.mode;

/** Paths that are a parent directory of `p`, e.g. "a" and "a/b" for "a/b/c". */
const parentsOf = (p: string) => p.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'));

interface RevertTree {
  head: string;
  tree: string;
  files: string[];
}

/**
 * The tree of the revert commit on top of the base branch's head. Unmoved branch: the
 * tree before the PR. Moved branch: the head's tree with the PR's files set back, unless a
 * later commit also changed one of them (then refused, nothing created).
 */
async function revertTree(octokit: Octokit, repo: GitHubRepo, pr: MergedPullRequest): Promise<RevertTree> {
  const head = await branchHead(octokit, repo, pr.base);
  if (head === undefined) {
    throw new GitHubError('not-found', `Branch ${pr.base}, which PR #${pr.number} was merged into, no longer exists on GitHub: nothing to revert it on.`);
  }
  if (head === pr.mergeCommit) return { head, tree: pr.beforeTree, files: [] };

  const local = `"git revert -m 1 ${pr.mergeCommit.slice(0, 12)}" in your clone, then push`;
  let status;
  try {
    status = (await octokit.rest.repos.compareCommits({ ...repo, base: pr.mergeCommit, head })).data.status;
  } catch (err) {
    throw explain(err, `comparing ${pr.base} with the merge of PR #${pr.number}`);
  }
  if (status !== 'ahead') {
    throw new GitHubError('base-moved', `${pr.base} (at ${head.slice(0, 12)}) no longer contains the merge ${pr.mergeCommit.slice(0, 12)} of PR #${pr.number} (history was rewritten): there is nothing to revert on it. Check the branch on GitHub.`);
  }
  let headTree;
  try {
    headTree = (await octokit.rest.git.getCommit({ ...repo, commit_sha: head })).data.tree.sha;
  } catch (err) {
    throw explain(err, `reading ${head.slice(0, 12)}, the head of ${pr.base}`);
  }
  const [before, merged, now] = await Promise.all([
    listFiles(octokit, repo, pr.beforeTree, `the commit before PR #${pr.number}`),
    listFiles(octokit, repo, pr.mergeTree, `the merge of PR #${pr.number}`),
    listFiles(octokit, repo, headTree, `${pr.base}'s head`),
  ]);
  const changed = [...new Set([...before.keys(), ...merged.keys()])].filter((p) => !sameFile(before.get(p), merged.get(p))).sort();
  if (!changed.length) {
    throw new GitHubError('refused', `PR #${pr.number} changed no file (its merge has the same tree as the commit before it): there is nothing to revert.`);
  }
  // A later commit touched a PR file (or put a file where a restored file's folder goes, or
  // a folder where it goes): git would have to merge the two changes.
  const conflicts = changed.filter(
    (p) => !sameFile(now.get(p), merged.get(p)) || (before.has(p) && (parentsOf(p).some((d) => now.has(d)) || [...now.keys()].some((q) => q.startsWith(p + '/')))),
  );
  if (conflicts.length) {
    const shown = conflicts.slice(0, 10).join(', ') + (conflicts.length > 10 ? ` and ${conflicts.length - 10} more` : '');
    throw new GitHubError(
      'base-moved',
      `${pr.base} has moved since PR #${pr.number} was merged, and later commits also changed ${shown}: the revert must merge those changes, which the GitHub API cannot do. Use the local route instead (${local}); git stops on the conflict so you can resolve it. Nothing was changed on GitHub.`,
    );
  }
  const entries = changed.map((p) => {
    const old = before.get(p);
    const cur = merged.get(p)!;
    return old
      ? { path: p, mode: old.mode as '100644', type: old.type as 'blob', sha: old.sha }
      : { path: p, mode: cur.mode as '100644', type: cur.type as 'blob', sha: null };
  });
  try {
    const { data } = await octokit.rest.git.createTree({ ...repo, base_tree: headTree, tree: entries });
    return { head, tree: data.sha, files: changed };
  } catch (err) {
    throw explain(err, `building the revert tree of PR #${pr.number} (nothing was changed on GitHub)`);
  }
}

async function createRevertCommit(octokit: Octokit, repo: GitHubRepo, pr: MergedPullRequest, on: RevertTree): Promise<string> {
  const how =
    on.head === pr.mergeCommit
      ? `back to the tree of ${pr.beforeCommit}.`
      : `on top of ${on.head}:\n${on.files.length} file(s) set back to their content in ${pr.beforeCommit}.`;
  const message = `Revert "${pr.title}"\n\nThis reverts commit ${pr.mergeCommit}, the merge of PR #${pr.number},\n${how}`;
  try {
    const { data } = await octokit.rest.git.createCommit({ ...repo, message, tree: on.tree, parents: [on.head] });
    return data.sha;
  } catch (err) {
    throw explain(err, `creating the revert commit of PR #${pr.number} (nothing was changed on GitHub)`);
  }
}

async function requireNewBranch(octokit: Octokit, repo: GitHubRepo, pr: MergedPullRequest, branch: string): Promise<void> {
  if (!gitRef.safeParse(branch).success) throw new GitHubError('refused', `"${branch}" is not a valid branch name for the revert`);
  const existing = await branchHead(octokit, repo, branch);
  if (existing !== undefined) {
    throw new GitHubError(
      'refused',
      `Branch ${branch} already exists on GitHub (at ${existing.slice(0, 12)}): a revert of PR #${pr.number} may already be open. Merge or close that PR and delete the branch, or choose another branch name.`,
    );
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
  // PR mode checks the branch name before anything is built.
  const branch = opts.branch ?? `revert-${pr.number}`;
  if (mode === 'pull-request') await requireNewBranch(octokit, repo, pr, branch);
  const on = await revertTree(octokit, repo, pr);
  const made = { mode, pr, tree: on.tree, onTopOf: on.head, revertedFiles: on.files };

  if (mode === 'direct') {
    const revertCommit = await createRevertCommit(octokit, repo, pr, on);
    try {
      await octokit.rest.git.updateRef({ ...repo, ref: `heads/${pr.base}`, sha: revertCommit, force: false });
    } catch (err) {
      const e = explain(err, `moving ${pr.base} to the revert commit ${revertCommit.slice(0, 12)}`);
      throw new GitHubError(e.kind, `${e.message} ${pr.base} was NOT changed; the unreferenced revert commit ${revertCommit.slice(0, 12)} is harmless (GitHub discards it). Retry, or open a revert PR instead.`, e.status, e.resetAt);
    }
    return { ...made, revertCommit, movedBranch: pr.base };
  }

  const revertCommit = await createRevertCommit(octokit, repo, pr, on);
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
    return { ...made, revertCommit, branch, pullRequest: { number: data.number, url: data.html_url } };
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
