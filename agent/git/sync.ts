// Moving the host's nixcfg checkout: fast-forward to its upstream or a ref, or bring it to a
// commit. Refuses (before changing anything) on local changes or diverged history, so a
// refused pull leaves the checkout exactly as it was.
import type { SimpleGit } from 'simple-git';
import type { OutputStream } from '../../protocol';
import { OpError } from '../ops/types';
import { explainRemoteFailure, openGit, openLocalGit, remoteUrl } from './env';
import { firstLine, hasTrackedChanges } from './status';

export interface GitContext {
  /** Host name, for error messages. */
  host: string;
  log(stream: OutputStream, text: string): void;
  signal?: AbortSignal;
}

export interface SyncResult {
  before: string;
  /** Branch checked out before; undefined when it was detached. */
  branchBefore?: string;
  after: string;
  /** Branch checked out afterwards; undefined when detached. */
  branch?: string;
  changed: boolean;
}

// Every git here runs without prompts: an ssh remote in BatchMode (see env.ts).
function open(ctx: GitContext, checkout: string): Promise<SimpleGit> {
  return openGit(checkout, { signal: ctx.signal });
}

async function step<T>(ctx: GitContext, checkout: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof OpError) throw err;
    throw new OpError(`host ${ctx.host}: ${what} in ${checkout} failed: ${firstLine(err)}; fix the checkout (or its remote) and retry`);
  }
}

// Not `merge-base --is-ancestor`: simple-git does not report its silent exit code 1.
async function isAncestor(git: SimpleGit, a: string, b: string): Promise<boolean> {
  const [fullA, base] = await Promise.all([
    resolveCommit(git, a),
    git.raw(['merge-base', a, b]).then((s) => s.trim(), () => ''),
  ]);
  return fullA !== undefined && base === fullA;
}

async function resolveCommit(git: SimpleGit, spec: string): Promise<string | undefined> {
  try {
    return (await git.raw(['rev-parse', '--verify', '--quiet', `${spec}^{commit}`])).trim() || undefined;
  } catch {
    return undefined;
  }
}

async function requireClean(ctx: GitContext, git: SimpleGit, checkout: string, doing: string): Promise<void> {
  const status = await step(ctx, checkout, 'git status', () => git.status());
  if (hasTrackedChanges(status)) {
    const files = status.files.filter((f) => !(f.index === '?' && f.working_dir === '?')).map((f) => f.path);
    const shown = files.slice(0, 5).join(', ') + (files.length > 5 ? `, and ${files.length - 5} more` : '');
    throw new OpError(
      `host ${ctx.host}: the nixcfg checkout ${checkout} has local changes (${shown}); commit or discard them before ${doing}`,
    );
  }
}

async function fetch(ctx: GitContext, git: SimpleGit, checkout: string, required: boolean): Promise<void> {
  ctx.log('info', `git fetch --prune origin (in ${checkout})`);
  try {
    await git.fetch(['--prune', 'origin']);
  } catch (err) {
    const why = explainRemoteFailure(err instanceof Error ? err.message : String(err), 'origin', await remoteUrl(checkout, 'origin'));
    if (required) {
      throw new OpError(
        why
          ? `host ${ctx.host}: git fetch in ${checkout} failed: ${why}`
          : `host ${ctx.host}: git fetch in ${checkout} failed: ${firstLine(err)}; check the network and the remote "origin", then retry`,
      );
    }
    ctx.log('stderr', `git fetch failed (${why ?? firstLine(err)}); using the commits already in the checkout`);
  }
}

async function headOf(git: SimpleGit): Promise<{ rev: string; branch?: string }> {
  const rev = (await git.revparse(['--verify', 'HEAD'])).trim();
  const branch = (await git.raw(['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => '')).trim();
  return { rev, branch: branch || undefined };
}

/**
 * Bring the checkout to commit `rev`: fast-forward the branch when `rev` is ahead of it,
 * otherwise a detached checkout. The tree must be clean.
 */
export async function bringToRev(ctx: GitContext, checkout: string, rev: string): Promise<SyncResult> {
  const git = await open(ctx, checkout);
  const head = await step(ctx, checkout, 'reading HEAD', () => headOf(git));
  if (head.rev.startsWith(rev)) return { before: head.rev, branchBefore: head.branch, after: head.rev, branch: head.branch, changed: false };
  await requireClean(ctx, git, checkout, `moving it to ${rev}`);
  const target = await resolveRevision(ctx, checkout, rev);
  if (head.branch && (await isAncestor(git, head.rev, target))) {
    ctx.log('info', `git merge --ff-only ${target} (on ${head.branch})`);
    await step(ctx, checkout, 'git merge --ff-only', () => git.raw(['merge', '--ff-only', target]));
  } else {
    ctx.log('info', `git checkout --detach ${target}`);
    await step(ctx, checkout, 'git checkout --detach', () => git.raw(['checkout', '--quiet', '--detach', target]));
  }
  const after = await step(ctx, checkout, 'reading HEAD', () => headOf(git));
  return { before: head.rev, branchBefore: head.branch, after: after.rev, branch: after.branch, changed: after.rev !== head.rev };
}

/**
 * Undo bringToRev after the op failed, so a failed switch leaves the checkout where it
 * was: back onto the branch (which bringToRev only fast-forwarded) at its old commit, or
 * the old detached commit. Returns a sentence for the error message.
 */
export async function restoreCheckout(ctx: GitContext, checkout: string, moved: SyncResult): Promise<string> {
  if (!moved.changed) return '';
  const git = await open(ctx, checkout);
  try {
    if (moved.branchBefore) {
      if (moved.branch === moved.branchBefore) {
        ctx.log('info', `git reset --keep ${moved.before} (undo the fast-forward of ${moved.branchBefore})`);
        await git.raw(['reset', '--quiet', '--keep', moved.before]);
      } else {
        ctx.log('info', `git checkout ${moved.branchBefore}`);
        await git.raw(['checkout', '--quiet', moved.branchBefore]);
      }
    } else {
      ctx.log('info', `git checkout --detach ${moved.before}`);
      await git.raw(['checkout', '--quiet', '--detach', moved.before]);
    }
    return `the checkout was put back at ${moved.before.slice(0, 12)}`;
  } catch (err) {
    ctx.log('stderr', `putting the checkout back failed: ${firstLine(err)}`);
    return `the checkout stays at ${moved.after.slice(0, 12)} (putting it back at ${moved.before.slice(0, 12)} failed)`;
  }
}

/** Fast-forward to the upstream, to `ref` (a branch on origin or a tag), or bring the checkout to `rev`. */
export async function pullCheckout(
  ctx: GitContext,
  checkout: string,
  opts: { ref?: string; rev?: string } = {},
): Promise<SyncResult> {
  if (opts.ref !== undefined && opts.rev !== undefined) {
    throw new OpError(`host ${ctx.host}: pull takes a ref or a rev, not both; give one of them`);
  }
  if (opts.rev !== undefined) return bringToRev(ctx, checkout, opts.rev);
  const git = await open(ctx, checkout);
  const head = await step(ctx, checkout, 'reading HEAD', () => headOf(git));
  await requireClean(ctx, git, checkout, 'pulling');
  await fetch(ctx, git, checkout, true);

  let target: string | undefined;
  let targetName: string;
  let switchTo: string | undefined; // a branch to check out (tracking origin/<ref>)
  if (opts.ref !== undefined) {
    const remote = await resolveCommit(git, `refs/remotes/origin/${opts.ref}`);
    const tag = remote ? undefined : await resolveCommit(git, `refs/tags/${opts.ref}`);
    target = remote ?? tag;
    targetName = remote ? `origin/${opts.ref}` : `tag ${opts.ref}`;
    if (!target) throw new OpError(`host ${ctx.host}: "${opts.ref}" is neither a branch on origin nor a tag in ${checkout}; check the name and push it first`);
    if (remote && head.branch !== opts.ref) switchTo = opts.ref;
  } else {
    if (!head.branch) {
      throw new OpError(`host ${ctx.host}: the checkout ${checkout} is detached (at ${head.rev.slice(0, 12)}); pull with a ref (e.g. main) or a rev`);
    }
    const upstream = (await git.raw(['rev-parse', '--abbrev-ref', '--symbolic-full-name', '@{upstream}']).catch(() => '')).trim();
    if (!upstream) {
      throw new OpError(`host ${ctx.host}: branch ${head.branch} in ${checkout} has no upstream; set one (git branch -u origin/${head.branch}) or pull with a ref`);
    }
    target = await resolveCommit(git, upstream);
    targetName = upstream;
    if (!target) throw new OpError(`host ${ctx.host}: upstream ${upstream} of ${checkout} does not exist on origin; pull with a ref`);
  }

  // The branch that will be moved: the one checked out, or the local branch named ref.
  const moving = switchTo ? await resolveCommit(git, `refs/heads/${switchTo}`) : head.rev;
  if (moving && moving !== target && !(await isAncestor(git, moving, target))) {
    if (!(await isAncestor(git, target, moving))) {
      throw new OpError(`host ${ctx.host}: the checkout ${checkout} has diverged from ${targetName}; rebase or reset it by hand, then pull again`);
    }
    // Ahead only (e.g. a self-update's committed flake.lock): like `git pull --ff-only`, nothing to do.
    ctx.log('info', `${switchTo ?? head.branch ?? 'HEAD'} has local commits not on ${targetName}; nothing to fast-forward`);
    if (!switchTo) return { before: head.rev, after: head.rev, branch: head.branch, changed: false };
    ctx.log('info', `git checkout ${switchTo}`);
    await step(ctx, checkout, 'git checkout', () => git.raw(['checkout', '--quiet', switchTo]));
  } else if (switchTo) {
    ctx.log('info', `git checkout -B ${switchTo} --track origin/${switchTo}`);
    await step(ctx, checkout, 'git checkout', () => git.raw(['checkout', '--quiet', '-B', switchTo, '--track', `origin/${switchTo}`]));
  } else if (target !== head.rev) {
    // A branch follows its upstream (or origin/<itself>) by fast-forward; a tag is checked out detached.
    const fastForward = head.branch !== undefined && (opts.ref === undefined || targetName === `origin/${head.branch}`);
    if (fastForward) {
      ctx.log('info', `git merge --ff-only ${targetName}`);
      await step(ctx, checkout, 'git merge --ff-only', () => git.raw(['merge', '--ff-only', target]));
    } else {
      ctx.log('info', `git checkout --detach ${targetName}`);
      await step(ctx, checkout, 'git checkout --detach', () => git.raw(['checkout', '--quiet', '--detach', target]));
    }
  }
  const after = await step(ctx, checkout, 'reading HEAD', () => headOf(git));
  ctx.log('info', after.rev === head.rev ? `already at ${after.rev}` : `moved from ${head.rev} to ${after.rev}`);
  return { before: head.rev, after: after.rev, branch: after.branch, changed: after.rev !== head.rev };
}

/** HEAD of the checkout and whether tracked files differ from it. */
export async function checkoutRevision(ctx: GitContext, checkout: string): Promise<{ revision: string; dirty: boolean }> {
  const git = openLocalGit(checkout, { signal: ctx.signal });
  // One git process on the switch path: porcelain v2 names HEAD, and without untracked
  // files every other line is a tracked change.
  const text = await step(ctx, checkout, 'git status', () => git.raw(['status', '--porcelain=v2', '--branch', '--untracked-files=no']));
  return parsePorcelainV2(text, checkout, ctx.host);
}

export function parsePorcelainV2(text: string, checkout: string, host: string): { revision: string; dirty: boolean } {
  let revision: string | undefined;
  let dirty = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('# branch.oid ')) revision = line.slice('# branch.oid '.length).trim();
    else if (line.length > 0 && !line.startsWith('#')) dirty = true;
  }
  if (!revision || !/^[0-9a-f]{40,64}$/.test(revision)) {
    throw new OpError(`host ${host}: the checkout ${checkout} has no commit yet; commit the configuration first`);
  }
  return { revision, dirty };
}

/** Full hash of `rev`, fetching once if the checkout does not have it. */
export async function resolveRevision(ctx: GitContext, checkout: string, rev: string): Promise<string> {
  const git = await open(ctx, checkout);
  let full = await resolveCommit(git, rev);
  if (!full) {
    await fetch(ctx, git, checkout, true);
    full = await resolveCommit(git, rev);
  }
  if (!full) {
    throw new OpError(`host ${ctx.host}: commit ${rev} is neither in the checkout ${checkout} nor on its remote "origin"; push it first or give another revision`);
  }
  return full;
}
