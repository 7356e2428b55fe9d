// Revert a merge in a local clone and push it, for repositories that are not on GitHub
// (or when the base branch moved on after the merge and only a real `git revert` can keep
// the later commits). A conflict aborts the revert so the clone is left as it was.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { commitHash, gitRef } from '../../protocol';

export class GitOpsError extends Error {
  override name = 'GitOpsError';
  constructor(
    message: string,
    /** Set when a revert commit exists locally but was not pushed. */
    readonly unpushedCommit?: string,
  ) {
    super(message);
  }
}

export interface LocalRevertOptions {
  /** A clone of the nixcfg repository (the workspace folder). */
  repoDir: string;
  /** The merge commit (or single commit) to revert. */
  commit: string;
  remote?: string;
  /** Push the revert to the remote's branch of the same name (default true). */
  push?: boolean;
}

export interface LocalRevertResult {
  revertCommit: string;
  tree: string;
  branch: string;
  /** The commit that was reverted, in full. */
  reverted: string;
  /** `-m 1` was used: the reverted commit is a merge. */
  mainline: boolean;
  /** "origin/main" when pushed. */
  pushedTo?: string;
}

export function git(repoDir: string): SimpleGit {
  // No prompts: a push that needs credentials must fail instead of waiting for a terminal.
  // Nothing here opens an editor or a pager (`revert --no-edit`), so those are dropped.
  const env: Record<string, string | undefined> = { ...process.env, GIT_TERMINAL_PROMPT: '0' };
  for (const k of ['GIT_EDITOR', 'EDITOR', 'VISUAL', 'GIT_PAGER', 'PAGER']) delete env[k];
  return simpleGit({
    baseDir: repoDir,
    timeout: { block: 120_000 },
    // simple-git strips or refuses GIT_* variables unless named. Apart from
    // GIT_TERMINAL_PROMPT they all come from the user's own environment (ssh command,
    // askpass helper, proxy, config), which a git run from their shell honours too.
    allowEnvironment: Object.keys(env),
    unsafe: {
      allowUnsafeSshCommand: true,
      allowUnsafeAskPass: true,
      allowUnsafeGitProxy: true,
      allowUnsafeConfigEnvCount: true,
      allowUnsafeConfigPaths: true,
    },
  }).env(env);
}

export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines.find((l) => /^(error|fatal)\b/.test(l)) ?? lines[0] ?? text).slice(0, 300);
}

async function revision(g: SimpleGit, rev: string): Promise<string> {
  // --quiet makes git exit 1 without stderr, which simple-git does not treat as an error.
  const sha = (await g.raw(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`])).trim();
  if (!/^[0-9a-f]{40,64}$/.test(sha)) throw new Error(`unknown revision ${rev}`);
  return sha;
}

/** The clone must be on a branch, clean, with no merge/revert/rebase in progress. */
async function requireCleanBranch(g: SimpleGit, repoDir: string): Promise<string> {
  if (!existsSync(path.join(repoDir, '.git'))) {
    throw new GitOpsError(`${repoDir} is not a git clone (no .git): open the nixcfg clone as the workspace folder`);
  }
  const gitDir = (await g.raw(['rev-parse', '--absolute-git-dir'])).trim();
  for (const marker of ['MERGE_HEAD', 'REVERT_HEAD', 'CHERRY_PICK_HEAD', 'rebase-merge', 'rebase-apply']) {
    if (existsSync(path.join(gitDir, marker))) {
      throw new GitOpsError(`${repoDir} has an unfinished git operation (${marker}): finish or abort it first`);
    }
  }
  const status = await g.status();
  if (!status.isClean()) {
    const files = [...status.modified, ...status.staged, ...status.deleted, ...status.created, ...status.conflicted];
    throw new GitOpsError(
      `${repoDir} has uncommitted changes (${[...new Set(files)].slice(0, 5).join(', ') || 'untracked files'}): commit or stash them before reverting`,
    );
  }
  if (!status.current || status.detached) throw new GitOpsError(`${repoDir} is not on a branch (detached HEAD): check out the branch to revert on, e.g. main`);
  return status.current;
}

/**
 * `git revert [-m 1] <commit>` on the clone's current branch, then push it. Before
 * reverting, the branch is brought up to date with the remote (fast-forward only) so the
 * push cannot be refused for being behind.
 */
export async function revertLocally(opts: LocalRevertOptions): Promise<LocalRevertResult> {
  const { repoDir } = opts;
  const remote = opts.remote ?? 'origin';
  const push = opts.push ?? true;
  if (!commitHash.safeParse(opts.commit).success) throw new GitOpsError(`"${opts.commit}" is not a commit hash`);
  if (!gitRef.safeParse(remote).success) throw new GitOpsError(`"${remote}" is not a valid remote name`);
  const g = git(repoDir);
  const branch = await requireCleanBranch(g, repoDir);

  if (push) {
    try {
      await g.fetch(remote, branch);
    } catch (err) {
      throw new GitOpsError(`git fetch ${remote} ${branch} failed in ${repoDir}: ${firstLine(err)}. Check the remote and your credentials, then retry.`);
    }
    const upstream = `refs/remotes/${remote}/${branch}`;
    const upstreamSha = await g.raw(['rev-parse', '--verify', '--quiet', upstream]).then((s) => s.trim(), () => '');
    if (upstreamSha) {
      const counts = (await g.raw(['rev-list', '--left-right', '--count', `HEAD...${upstream}`])).trim().split(/\s+/).map(Number);
      if (counts[0]! > 0 && counts[1]! > 0) {
        throw new GitOpsError(`${branch} in ${repoDir} has diverged from ${remote}/${branch} (${counts[0]} local, ${counts[1]} remote commits): pull or rebase first, then revert`);
      }
      if (counts[1]! > 0) await g.merge(['--ff-only', upstream]);
    }
  }

  let reverted: string;
  try {
    reverted = await revision(g, opts.commit);
  } catch {
    throw new GitOpsError(`Commit ${opts.commit} is not in ${repoDir}: fetch it first (is it on ${remote}?)`);
  }
  // `merge-base --is-ancestor` answers by exit code only, which simple-git does not surface.
  const onBranch = (await g.raw(['merge-base', reverted, 'HEAD']).catch(() => '')).trim() === reverted;
  if (!onBranch) throw new GitOpsError(`Commit ${reverted.slice(0, 12)} is not part of ${branch}: there is nothing to revert on this branch`);
  const parents = (await g.raw(['rev-list', '--parents', '-n', '1', reverted])).trim().split(' ').length - 1;
  if (parents === 0) throw new GitOpsError(`Commit ${reverted.slice(0, 12)} is the repository's first commit: it cannot be reverted`);
  const mainline = parents > 1;
  const before = await revision(g, 'HEAD');
  // Without a commit identity git revert stops after changing the files, and --abort cannot
  // undo that: check first, so nothing is touched.
  for (const who of ['GIT_AUTHOR_IDENT', 'GIT_COMMITTER_IDENT']) {
    try {
      await g.raw(['var', who]);
    } catch {
      throw new GitOpsError(
        `git has no commit identity in ${repoDir}, so it cannot make the revert commit; nothing was changed. Set one (git config --global user.name "Your Name"; git config --global user.email you@example.com) and retry.`,
      );
    }
  }

  try {
    await g.raw(['revert', '--no-edit', ...(mainline ? ['-m', '1'] : []), reverted]);
  } catch (err) {
    const status = await g.status().catch(() => undefined);
    const conflicted = status?.conflicted ?? [];
    await g.raw(['revert', '--abort']).catch(() => undefined);
    const after = await revision(g, 'HEAD').catch(() => before);
    const clean = after === before && (await g.status()).isClean();
    const state = clean ? `${repoDir} is back as it was` : `WARNING: ${repoDir} could not be restored; check it with git status`;
    if (conflicted.length) {
      throw new GitOpsError(
        `Reverting ${reverted.slice(0, 12)} conflicts with later changes to ${conflicted.slice(0, 5).join(', ')}: the revert was aborted and ${state}. Resolve it by hand (git revert ${mainline ? '-m 1 ' : ''}${reverted.slice(0, 12)}, fix the conflicts, commit, push).`,
      );
    }
    throw new GitOpsError(`git revert ${reverted.slice(0, 12)} failed: ${firstLine(err)}; ${state}.`);
  }
  const revertCommit = await revision(g, 'HEAD');
  const tree = (await g.raw(['rev-parse', `${revertCommit}^{tree}`])).trim();
  if (revertCommit === before || tree === (await g.raw(['rev-parse', `${before}^{tree}`])).trim()) {
    // git exits without a commit (or with an empty one) when the changes are already gone.
    if (revertCommit !== before) await g.raw(['reset', '--hard', before]);
    throw new GitOpsError(`Reverting ${reverted.slice(0, 12)} changed nothing: its changes are already gone from ${branch}; nothing was committed or pushed`);
  }
  if (!push) return { revertCommit, tree, branch, reverted, mainline };
  try {
    await g.push(remote, `${branch}:refs/heads/${branch}`);
  } catch (err) {
    throw new GitOpsError(
      `The revert commit ${revertCommit.slice(0, 12)} was made on ${branch} in ${repoDir} but pushing it to ${remote} failed: ${firstLine(err)}. It is NOT on ${remote}: pull --rebase and push again, or drop it with "git reset --hard ${before.slice(0, 12)}".`,
      revertCommit,
    );
  }
  return { revertCommit, tree, branch, reverted, mainline, pushedTo: `${remote}/${branch}` };
}

/** The commit the clone's HEAD is at (deploying "the workspace's current commit"). */
export async function headCommit(repoDir: string): Promise<{ commit: string; branch?: string; dirty: boolean }> {
  const g = git(repoDir);
  let commit: string;
  try {
    commit = await revision(g, 'HEAD');
  } catch (err) {
    throw new GitOpsError(`${repoDir} has no commit to deploy (${firstLine(err)}): open the nixcfg clone and commit first`);
  }
  const status = await g.status();
  return { commit, branch: status.detached ? undefined : (status.current ?? undefined), dirty: !status.isClean() };
}
