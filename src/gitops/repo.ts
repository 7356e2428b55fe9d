// Facts about the workspace clone that Deploy and Revert PR need: its origin URL (is it on
// GitHub?) and, without GitHub, which merge commit a PR number refers to.
import { simpleGit } from 'simple-git';
import { gitRef } from '../../protocol';

export async function remoteUrl(repoDir: string, remote = 'origin'): Promise<string | undefined> {
  if (!gitRef.safeParse(remote).success) throw new Error(`"${remote}" is not a valid remote name`);
  const url = await simpleGit({ baseDir: repoDir }).raw(['remote', 'get-url', remote]).catch(() => '');
  return url.trim() || undefined;
}

/**
 * The merge commit GitHub's merge button made for PR `pull` ("Merge pull request #N from ..."),
 * searched in the clone's history of `branch`. Undefined when there is none.
 */
export async function findPullRequestMerge(repoDir: string, pull: number, branch = 'HEAD'): Promise<string | undefined> {
  if (!Number.isInteger(pull) || pull < 1) throw new Error(`"${pull}" is not a pull request number`);
  if (branch !== 'HEAD' && !gitRef.safeParse(branch).success) throw new Error(`"${branch}" is not a branch name`);
  const out = await simpleGit({ baseDir: repoDir }).raw(['log', '--merges', '--format=%H', '-E', `--grep=^Merge pull request #${pull}( |$)`, '-n', '1', branch]);
  const sha = out.trim();
  return /^[0-9a-f]{40,64}$/.test(sha) ? sha : undefined;
}
