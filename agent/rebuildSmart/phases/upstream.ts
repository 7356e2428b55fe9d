// Phase 2: fetch and rebase local commits onto upstream. A conflict stops the run with
// the files listed and nothing lost: the rebase is aborted (git) or undone (jj), local
// commits stay, and uncommitted changes are either carried through a stash (when upstream
// did not touch those files) or left untouched with a refusal naming the overlap.
import { remoteToolEnv } from '../../git/env';
import { changedFiles, ourStashes, readWorkTree, short, STASH_MARK, unfinishedOperation } from '../gitState';
import { errorText } from '../phaseRunner';
import { PhaseStop, type PhaseOutcome, type RunState } from '../types';
import { which } from '../which';

export const FETCH_TIMEOUT_MS = 120_000;

export function upstreamSkip(run: RunState): string | undefined {
  if (run.flags.skipUpstream) return '--skip-upstream';
  if (run.offline) return `offline: ${run.offlineReason}`;
  const c = run.checkout;
  if (c && c.vcs === 'git' && !c.branch) return 'detached HEAD: check out a branch to sync with upstream';
  if (c && !c.remote) return 'no remote to sync with';
  return undefined;
}

export async function upstreamSync(run: RunState): Promise<PhaseOutcome> {
  return run.checkout!.vcs === 'jj' ? syncWithJj(run) : syncWithGit(run);
}

async function syncWithGit(run: RunState): Promise<PhaseOutcome> {
  const { steps, ctx } = run;
  const c = run.checkout!;
  const git = steps.git(c.path);
  const upstream = `${c.remote}/${c.upstreamBranch}`;
  await steps.gitChange(c.path, ['fetch', '--prune', c.remote!], FETCH_TIMEOUT_MS);
  if (steps.dryRun) {
    if (c.dirtyFiles.length || c.untrackedFiles.length) {
      await steps.gitChange(c.path, ['stash', 'push', '--include-untracked', '--message', `${STASH_MARK} ${ctx.opId}`]);
    }
    await steps.gitChange(c.path, ['rebase', upstream]);
    if (c.dirtyFiles.length || c.untrackedFiles.length) await steps.gitChange(c.path, ['stash', 'pop']);
    // Read-only: what the remote-tracking branch from the last real fetch says.
    const known = await git.revparse([`${upstream}^{commit}`]).then((s) => s.trim(), () => undefined);
    if (!known) return { detail: `would rebase onto ${upstream} (not fetched yet)` };
    const [a, b] = (await git.raw(['rev-list', '--left-right', '--count', `HEAD...${known}`])).trim().split(/\s+/);
    return { detail: `would rebase onto ${upstream}; as of the last fetch ${b} upstream and ${a} local commit(s)` };
  }
  let remoteHead: string;
  try {
    remoteHead = (await git.revparse([`${upstream}^{commit}`])).trim();
  } catch {
    throw new Error(`${upstream} does not exist after fetching: push the branch or set its upstream (git -C ${c.path} branch -u REMOTE/BRANCH)`);
  }
  const [ahead, behind] = (await git.raw(['rev-list', '--left-right', '--count', `HEAD...${remoteHead}`]))
    .trim()
    .split(/\s+/)
    .map(Number) as [number, number];
  if (behind === 0) return { detail: `up to date with ${upstream}${ahead ? ` (${ahead} local commit(s) to push)` : ''}` };

  // Refuse rather than risk a stash that cannot be re-applied: uncommitted files that
  // upstream also changed stay exactly where they are.
  const base = (await git.raw(['merge-base', 'HEAD', remoteHead])).trim();
  const upstreamChanged = new Set(await changedFiles(git, base, remoteHead));
  const local = [...c.dirtyFiles, ...c.untrackedFiles];
  const overlap = local.filter((f) => upstreamChanged.has(f));
  if (overlap.length) {
    throw new PhaseStop(
      `upstream ${upstream} changed ${overlap.join(', ')}, which you have uncommitted changes in: nothing was changed; commit them (the rebase then merges them) or stash them, and run again`,
    );
  }

  const stashed = local.length > 0;
  if (stashed) await steps.gitChange(c.path, ['stash', 'push', '--include-untracked', '--message', `${STASH_MARK} ${ctx.opId}`]);
  let rebased = false;
  try {
    try {
      await steps.gitChange(c.path, ['rebase', remoteHead]);
      rebased = true;
    } catch (err) {
      const conflicted = await cleanupRebase(run);
      if (ctx.signal.aborted) throw err;
      if (conflicted.length) {
        throw new PhaseStop(
          `rebasing ${ahead} local commit(s) onto ${upstream} conflicts in ${conflicted.join(', ')}: the rebase was aborted, your commits${stashed ? ' and uncommitted changes' : ''} are as they were; rebase by hand (git -C ${c.path} rebase ${upstream}) and resolve, then run again`,
        );
      }
      throw err;
    }
  } finally {
    if (stashed) await popOurStash(run, rebased);
  }
  const now = (await git.revparse(['HEAD'])).trim();
  return {
    detail: `${ahead ? `rebased ${ahead} local commit(s) onto` : 'fast-forwarded to'} ${upstream} (+${behind} upstream commit(s)), now at ${short(now)}`,
  };
}

/** After a failed or interrupted rebase: list the conflicts, then abort it. */
async function cleanupRebase(run: RunState): Promise<string[]> {
  const git = run.steps.cleanupGit(run.checkout!.path);
  const tree = await readWorkTree(git).catch(() => undefined);
  if (await unfinishedOperation(git)) {
    run.steps.say(`$ git rebase --abort (in ${run.checkout!.path})`);
    await git.raw(['rebase', '--abort']);
  }
  return tree?.conflicted ?? [];
}

/** Put the stashed uncommitted changes back; if that fails they stay in the stash, named. */
async function popOurStash(run: RunState, rebased: boolean): Promise<void> {
  const c = run.checkout!;
  const git = run.steps.cleanupGit(c.path);
  const [ours] = await ourStashes(git, run.ctx.opId);
  if (!ours) return;
  run.steps.say(`$ git stash pop --index ${ours.ref} (in ${c.path})`);
  try {
    await git.raw(['stash', 'pop', '--index', ours.ref]);
  } catch (err) {
    // The overlap check makes this rare; the changes are still in the stash, so say where.
    const msg = `your uncommitted changes could not be re-applied${rebased ? ' after the rebase' : ''} (${errorText(err).slice(0, 200)}); they are safe in ${ours.ref}: git -C ${c.path} stash pop ${ours.ref}`;
    run.warnings.push(`upstream: ${msg}`);
    throw new PhaseStop(msg);
  }
}

async function syncWithJj(run: RunState): Promise<PhaseOutcome> {
  const { steps } = run;
  const c = run.checkout!;
  const jj = which('jj')!;
  const target = `${c.upstreamBranch}@${c.remote}`;
  await steps.change([jj, 'git', 'fetch', '--remote', c.remote!], { cwd: c.path, timeoutMs: FETCH_TIMEOUT_MS, env: await remoteToolEnv(c.path) });
  await steps.change([jj, 'rebase', '--branch', '@', '--destination', target], { cwd: c.path });
  if (steps.dryRun) return { detail: `would rebase the working copy's branch onto ${target} with jj` };
  // jj records conflicts in commits instead of stopping; find them and undo the rebase.
  const conflicts = await steps.inspect(
    [jj, 'log', '--no-graph', '--revisions', `(${target}..@) & conflicts()`, '--template', 'change_id.short() ++ "\\n"'],
    { cwd: c.path },
  );
  const changes = conflicts.stdout.split('\n').filter(Boolean);
  if (changes.length) {
    const files = await steps.inspect([jj, 'resolve', '--list', '--revision', changes[0]!], { cwd: c.path, allowFailure: true });
    const list = files.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0])
      .filter(Boolean);
    await steps.change([jj, 'undo'], { cwd: c.path });
    throw new PhaseStop(
      `rebasing onto ${target} conflicts in ${list.join(', ') || `change ${changes[0]}`}: the rebase was undone (jj undo), nothing was lost; rebase by hand (jj rebase -d ${target}) and resolve, then run again`,
    );
  }
  return { detail: `rebased onto ${target} with jj` };
}
