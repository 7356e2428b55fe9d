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

/**
 * Where `commit` is, seen from the clone `repoDir`: on `remote` (a remote-tracking branch
 * contains it, after a fetch when needed), only local (never pushed), or unknown here.
 * Hosts fetch from the remote, so only a commit on it can be deployed.
 */
export async function commitOnRemote(repoDir: string, commit: string, remote = 'origin'): Promise<{ where: 'remote' | 'local-only' | 'unknown'; commit?: string; fetchError?: string }> {
  const git = simpleGit({ baseDir: repoDir });
  const resolve = () => git.raw(['rev-parse', '--verify', '--quiet', '--end-of-options', `${commit}^{commit}`]).then((s) => s.trim() || undefined, () => undefined);
  const contained = async (sha: string) => (await git.raw(['for-each-ref', '--contains', sha, '--format=%(refname)', `refs/remotes/${remote}/`]).catch(() => '')).trim().length > 0;
  let sha = await resolve();
  if (sha && (await contained(sha))) return { where: 'remote', commit: sha };
  // Tracking refs may be stale (pushed from elsewhere, or not fetched yet): look once more.
  let fetchError: string | undefined;
  await git.raw(['fetch', '--quiet', '--end-of-options', remote]).catch((err: Error) => (fetchError = err.message.trim().split('\n').at(-1)));
  sha ??= await resolve();
  if (!sha) return { where: 'unknown', ...(fetchError ? { fetchError } : {}) };
  return { where: (await contained(sha)) ? 'remote' : 'local-only', commit: sha, ...(fetchError ? { fetchError } : {}) };
}
