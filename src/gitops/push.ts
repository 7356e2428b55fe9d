// "Push" when a deploy stopped in preflight because its commit is only in the workspace clone:
// the hosts fetch from the remote, so the commit has to be there first. Pushes the branch the
// commit is on (fast-forward only, never forced), then says where it went.
import { gitRef, printable } from '../../protocol';
import { commitOnRemote } from './repo';
import { firstLine, git, GitOpsError } from './revert';

export interface PushResult {
  /** "origin/main" */
  pushedTo: string;
}

/**
 * Push the clone's current branch to `remote` (its upstream branch there, else the same name)
 * when it contains `commit`. Refuses a detached HEAD or a commit the branch does not contain:
 * then the user has to say where it goes.
 */
export async function pushCommit(repoDir: string, commit: string, remote = 'origin'): Promise<PushResult> {
  if (!gitRef.safeParse(remote).success) throw new GitOpsError(`"${printable(remote)}" is not a remote name`);
  const g = git(repoDir);
  const status = await g.status();
  if (!status.current || status.detached) throw new GitOpsError(`${repoDir} is not on a branch (detached HEAD): check out the branch that holds ${commit.slice(0, 12)} and push it yourself`);
  const branch = status.current;
  const contains = await g.raw(['merge-base', '--is-ancestor', '--end-of-options', commit, 'HEAD']).then(() => true, () => false);
  if (!contains) throw new GitOpsError(`branch ${branch} of ${repoDir} does not contain ${commit.slice(0, 12)}: push the branch that holds it yourself`);
  // The upstream's branch name when the upstream is on `remote` (main tracking origin/main).
  const upstream = (await g.raw(['rev-parse', '--abbrev-ref', '--symbolic-full-name', '@{upstream}']).catch(() => '')).trim();
  const target = upstream.startsWith(`${remote}/`) ? upstream.slice(remote.length + 1) : branch;
  if (!gitRef.safeParse(target).success) throw new GitOpsError(`"${printable(target)}" is not a branch name git can push to`);
  try {
    await g.raw(['push', '--end-of-options', remote, `refs/heads/${branch}:refs/heads/${target}`]);
  } catch (err) {
    throw new GitOpsError(`git push ${remote} ${branch} failed: ${firstLine(err)}; pull and try again, or push from a terminal`);
  }
  const where = await commitOnRemote(repoDir, commit, remote);
  if (where.where !== 'remote') throw new GitOpsError(`pushed ${branch} to ${remote}/${target}, but ${commit.slice(0, 12)} is still not on ${remote}: push it from a terminal`);
  return { pushedTo: `${remote}/${target}` };
}
