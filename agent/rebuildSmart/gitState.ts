// Read-only facts about the nixcfg checkout (run in a dry run too), and the stash the
// run may leave behind, found again by its message so a killed run loses nothing.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { SimpleGit } from 'simple-git';

/** Marks the stash a run makes; the op id follows it. */
export const STASH_MARK = 'nixfleet rebuild-smart';

export interface WorkTree {
  commit: string;
  branch?: string;
  tracking?: string;
  dirty: string[];
  untracked: string[];
  conflicted: string[];
}

export async function readWorkTree(git: SimpleGit): Promise<WorkTree> {
  const status = await git.status();
  const commit = (await git.revparse(['HEAD'])).trim();
  return {
    commit,
    branch: status.detached ? undefined : (status.current ?? undefined),
    tracking: status.tracking ?? undefined,
    dirty: status.files.filter((f) => f.index !== '?' && f.working_dir !== '?').map((f) => f.path),
    untracked: status.not_added,
    conflicted: status.conflicted,
  };
}

/** A rebase, merge or cherry-pick left half-done in the checkout, by its marker in .git. */
export async function unfinishedOperation(git: SimpleGit): Promise<string | undefined> {
  const gitDir = path.resolve(await git.revparse(['--absolute-git-dir']).then((s) => s.trim()));
  const markers: [string, string][] = [
    ['rebase-merge', 'a rebase'],
    ['rebase-apply', 'a rebase'],
    ['MERGE_HEAD', 'a merge'],
    ['CHERRY_PICK_HEAD', 'a cherry-pick'],
    ['REVERT_HEAD', 'a revert'],
  ];
  for (const [file, what] of markers) if (existsSync(path.join(gitDir, file))) return what;
  return undefined;
}

/** stash@{n} entries whose message carries our mark (left by this or an earlier run). */
export async function ourStashes(git: SimpleGit, opId?: string): Promise<{ ref: string; message: string }[]> {
  const out = await git.raw(['stash', 'list', '--format=%gd%x00%gs']);
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [ref, message] = line.split('\0') as [string, string];
      return { ref, message };
    })
    .filter((s) => s.message.includes(opId ? `${STASH_MARK} ${opId}` : STASH_MARK));
}

/** Files changed between two commits. */
export async function changedFiles(git: SimpleGit, from: string, to: string): Promise<string[]> {
  const out = await git.raw(['diff', '--name-only', '--no-renames', from, to]);
  return out.split('\n').filter(Boolean);
}

export async function remoteUrl(git: SimpleGit, remote: string): Promise<string | undefined> {
  try {
    return (await git.raw(['remote', 'get-url', remote])).trim() || undefined;
  } catch {
    return undefined;
  }
}

export const short = (commit: string | undefined) => (commit ? commit.slice(0, 7) : 'none');
