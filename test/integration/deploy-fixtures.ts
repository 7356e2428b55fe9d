// Real git for the deploy tests: a bare "origin", a work clone, and a PR branch merged
// into main with `git merge --no-ff`, the way GitHub's merge button records it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Test Author',
  GIT_AUTHOR_EMAIL: 'author@example.test',
  GIT_COMMITTER_NAME: 'Test Author',
  GIT_COMMITTER_EMAIL: 'author@example.test',
  GIT_CONFIG_NOSYSTEM: '1',
};

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await execa('git', args, { cwd, env: GIT_ENV, reject: false });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(' ')} in ${cwd}: ${r.stderr}`);
  return r.stdout.trim();
}

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
  await git(work, 'config', 'user.name', 'Test Author');
  await git(work, 'config', 'user.email', 'author@example.test');
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
