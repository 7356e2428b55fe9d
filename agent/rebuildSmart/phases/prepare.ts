// Phase 1: find the checkout, note what is uncommitted, record the commit and generation
// to roll back to, and decide whether the network is there.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { explainRemoteFailure } from '../../git/env';
import { errorText } from '../phaseRunner';
import { readRecord, writeRecord } from '../record';
import { ourStashes, readWorkTree, remoteUrl, short, unfinishedOperation } from '../gitState';
import { PhaseStop, type PhaseOutcome, type RunState } from '../types';
import { which } from '../which';

/** How long the reachability check of the checkout's remote may take. */
export const REMOTE_CHECK_TIMEOUT_MS = 5000;

export async function prepare(run: RunState): Promise<PhaseOutcome> {
  const { config, steps, ctx } = run;
  const dir = config.flake;
  if (!existsSync(path.join(dir, 'flake.nix'))) {
    throw new PhaseStop(`no flake.nix in ${dir} on host ${config.host}: set "flake" in the agent config to the nixcfg checkout`);
  }
  if (!existsSync(path.join(dir, '.git'))) {
    throw new PhaseStop(`${dir} on host ${config.host} is not a git checkout: clone nixcfg there (git clone URL ${dir})`);
  }
  const git = steps.git(dir);
  const unfinished = await unfinishedOperation(git);
  if (unfinished) {
    throw new PhaseStop(`${unfinished} is in progress in ${dir}: finish it or abort it (e.g. git -C ${dir} rebase --abort), then run Rebuild Smart again`);
  }
  const tree = await readWorkTree(git);
  if (tree.conflicted.length) {
    throw new PhaseStop(`${dir} has unresolved conflicts in ${tree.conflicted.join(', ')}: resolve and commit them first`);
  }
  const jjDir = path.join(dir, '.jj');
  let vcs: 'git' | 'jj' = 'git';
  if (existsSync(jjDir) && statSync(jjDir).isDirectory()) {
    if (which('jj')) vcs = 'jj';
    else run.warnings.push(`prepare: ${dir} is jj-colocated but jj is not on PATH; syncing with plain git`);
  }
  let remote: string | undefined;
  let upstreamBranch: string | undefined;
  if (tree.tracking) {
    const slash = tree.tracking.indexOf('/');
    remote = tree.tracking.slice(0, slash);
    upstreamBranch = tree.tracking.slice(slash + 1);
  } else if (tree.branch && (await git.getRemotes()).some((r) => r.name === 'origin')) {
    remote = 'origin';
    upstreamBranch = tree.branch;
  } else if (vcs === 'jj' && (await git.getRemotes()).some((r) => r.name === 'origin')) {
    // jj keeps git's HEAD detached: follow origin's default branch.
    remote = 'origin';
    upstreamBranch = await jjTrunk(git);
  }
  run.checkout = {
    path: dir,
    vcs,
    commit: tree.commit,
    branch: tree.branch,
    remote,
    remoteUrl: remote ? await remoteUrl(git, remote) : undefined,
    upstreamBranch,
    dirtyFiles: tree.dirty,
    untrackedFiles: tree.untracked,
  };
  run.before = await run.nix.currentGeneration(config.profile);

  const leftovers = await ourStashes(git);
  for (const s of leftovers) {
    run.warnings.push(`prepare: an earlier run left uncommitted changes in ${s.ref} ("${s.message}"): git -C ${dir} stash pop ${s.ref}`);
  }

  await detectOffline(run);

  if (!steps.dryRun) {
    // Kept so that a run which ends up changing nothing can put it back (see index.ts):
    // `--rollback` then still undoes the last run that did change something.
    try {
      run.previousRecord = readRecord(config.stateDir);
    } catch {
      run.previousRecord = undefined;
    }
    writeRecord(config.stateDir, {
      opId: ctx.opId,
      host: config.host,
      at: new Date().toISOString(),
      checkout: dir,
      commit: tree.commit,
      branch: tree.branch,
      profile: config.profile,
      generation: run.before?.generation,
      generationPath: run.before?.path,
    });
  }

  const parts = [`${vcs} checkout at ${short(tree.commit)}${tree.branch ? ' on ' + tree.branch : ' (detached)'}`];
  parts.push(run.before ? `generation ${run.before.generation}` : 'no generation yet');
  if (tree.dirty.length) {
    const msg = `${tree.dirty.length} uncommitted change(s) in ${tree.dirty.slice(0, 5).join(', ')}${tree.dirty.length > 5 ? ', …' : ''}: they are built as they are and kept through the sync`;
    parts.push(msg);
    run.warnings.push(`prepare: ${msg}`);
  }
  if (run.offline) parts.push(`offline (${run.offlineReason})`);
  return { detail: parts.join('; ') };
}

async function jjTrunk(git: ReturnType<RunState['steps']['git']>): Promise<string | undefined> {
  const head = await git.raw(['symbolic-ref', '--quiet', '--short', 'refs/remotes/origin/HEAD']).catch(() => '');
  if (head.trim().startsWith('origin/')) return head.trim().slice('origin/'.length);
  for (const b of ['main', 'master']) {
    if (await git.raw(['rev-parse', '--verify', '--quiet', `refs/remotes/origin/${b}`]).then((out) => out.trim().length > 0, () => false)) return b;
  }
  return undefined;
}

async function detectOffline(run: RunState): Promise<void> {
  const { flags, config, steps } = run;
  const c = run.checkout!;
  const setOffline = (why: string) => {
    run.offline = true;
    run.offlineReason = why;
    run.warnings.push(`offline (${why}): network phases are skipped`);
  };
  if (run.offline) return setOffline(run.offlineReason ?? '--offline');
  if (config.offlineMode) return setOffline('offlineMode is set in the agent config');
  if (!c.remote || !c.upstreamBranch) return setOffline(`the checkout has no remote${c.branch ? ` for branch ${c.branch}` : ' (detached HEAD)'}`);
  if (flags.dryRun) {
    steps.say(`[dry-run] would check that ${c.remote} is reachable: git ls-remote --heads ${c.remote} (${REMOTE_CHECK_TIMEOUT_MS / 1000}s limit)`);
    return;
  }
  steps.say(`$ git ls-remote --heads ${c.remote} (reachability check, ${REMOTE_CHECK_TIMEOUT_MS / 1000}s limit)`);
  try {
    await (await steps.remoteGit(c.path, REMOTE_CHECK_TIMEOUT_MS)).raw(['ls-remote', '--heads', c.remote]);
  } catch (err) {
    if (run.ctx.signal.aborted) throw err;
    // A key problem is not the network being down: say what to fix (git/env.ts).
    const why = explainRemoteFailure(errorText(err), c.remote, c.remoteUrl);
    setOffline(why ?? `${c.remote} (${c.remoteUrl ?? '?'}) is unreachable: ${errorText(err).slice(0, 200)}`);
  }
}
