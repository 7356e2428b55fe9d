// Real git for the deploy tests: a bare "origin", a work clone, and a PR branch merged
// into main with `git merge --no-ff`, the way GitHub's merge button records it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { git } from '../fixtures/git';

export { git };

export interface PrRepo {
  dir: string;
  origin: string;
  work: string;
  /** main before the PR merge. */
  beforeMerge: string;
  merge: string;
  featureTip: string;
  cleanup(): void;
}

/** Commit `files` (path → content) in `work` and return the commit. */
export async function commitFiles(work: string, files: Record<string, string>, message: string): Promise<string> {
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(work, f)), { recursive: true });
    writeFileSync(path.join(work, f), text);
  }
  await git(work, 'add', '--', ...Object.keys(files));
  await git(work, 'commit', '-q', '-m', message);
  return git(work, 'rev-parse', 'HEAD');
}

/**
 * origin with main = [base] → merge of branch `feature` (which changed `prFiles`).
 * `base` files are committed first.
 */
export async function makePrRepo(base: Record<string, string>, prFiles: Record<string, string>, feature = 'feature'): Promise<PrRepo> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-deploy-git-'));
  const origin = path.join(dir, 'origin.git');
  const work = path.join(dir, 'work');
  await git(dir, 'init', '-q', '--bare', '-b', 'main', origin);
  await git(dir, 'clone', '-q', origin, work);
  await git(work, 'checkout', '-q', '-B', 'main');
  // simple-git (src/gitops) does not pass GIT_AUTHOR_* through: the clone needs an identity.
  await git(work, 'config', 'user.name', 'Test Bed');
  await git(work, 'config', 'user.email', 'testbed@example.invalid');
  const beforeMerge = await commitFiles(work, base, 'base config');
  await git(work, 'push', '-q', 'origin', 'main');
  await git(work, 'checkout', '-q', '-b', feature);
  const featureTip = await commitFiles(work, prFiles, `change on ${feature}`);
  await git(work, 'push', '-q', 'origin', feature);
  await git(work, 'checkout', '-q', 'main');
  await git(work, 'merge', '-q', '--no-ff', '-m', `Merge pull request #1 from acme/${feature}`, feature);
  const merge = await git(work, 'rev-parse', 'HEAD');
  await git(work, 'push', '-q', 'origin', 'main');
  return { dir, origin, work, beforeMerge, merge, featureTip, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
