// Phase 8: commit what was built (tracked changes in the checkout: a git flake builds its
// working tree, untracked files excluded) and push the branch. Runs only after the checks
// passed, so a push never has to be undone by a failure rollback.
import { remoteToolEnv } from '../../git/env';
import { readWorkTree, short } from '../gitState';
import type { PhaseOutcome, RunState } from '../types';
import { which } from '../which';
import { FETCH_TIMEOUT_MS } from './upstream';

export function commitSkip(run: RunState): string | undefined {
  if (!run.flags.autoCommit && !run.flags.autoPush) return 'autoCommit and autoPush are off';
  return undefined;
}

export async function commitAndPush(run: RunState): Promise<PhaseOutcome> {
  const { steps, config, ctx } = run;
  const c = run.checkout!;
  const done: string[] = [];
  const tree = await readWorkTree(steps.git(c.path));
  // jj snapshots new files into the working-copy commit: for jj they are changes too.
  if (c.vcs === 'jj') tree.dirty.push(...tree.untracked.splice(0));
  if (tree.untracked.length) {
    run.warnings.push(`commit: untracked files were neither built nor committed: ${tree.untracked.slice(0, 5).join(', ')}${tree.untracked.length > 5 ? ', …' : ''} (git add them)`);
  }
  if (run.flags.autoCommit && tree.dirty.length) {
    const gen = run.after ? `generation ${run.after.generation}` : 'a new generation';
    const message = `${config.host}: rebuild-smart ${gen}\n\nBuilt and switched on ${config.host} by rebuild-smart (op ${ctx.opId}).\n`;
    if (c.vcs === 'jj') {
      await steps.change([which('jj')!, 'commit', '--message', message], { cwd: c.path });
    } else {
      await steps.gitChange(c.path, ['add', '--update']);
      await steps.gitChange(c.path, ['commit', '--message', message]);
    }
    if (!steps.dryRun) {
      const head = (await steps.git(c.path).revparse(['HEAD'])).trim();
      run.commitsMade.push(head);
      done.push(`committed ${tree.dirty.length} changed file(s) as ${short(head)}`);
    } else done.push(`would commit ${tree.dirty.length} changed file(s) (${listFiles(tree.dirty)}) and what the run changes`);
  } else if (run.flags.autoCommit && steps.dryRun) done.push('would commit what the run changes (nothing is changed now)');
  else if (!run.flags.autoCommit) done.push(tree.dirty.length ? `${tree.dirty.length} change(s) left uncommitted (autoCommit off)` : 'nothing to commit');
  else done.push('nothing to commit');

  if (!run.flags.autoPush) return { detail: [...done, 'push off (autoPush)'].join(', ') };
  if (run.offline) return { status: 'warning', detail: [...done, `not pushed: offline (${run.offlineReason}); push later`].join(', ') };
  if (!c.remote || !c.upstreamBranch || (c.vcs === 'git' && !c.branch)) return { status: 'warning', detail: [...done, 'not pushed: no remote branch'].join(', ') };
  if (steps.dryRun) done.push(`would push ${c.vcs === 'jj' ? c.upstreamBranch : c.branch} to ${c.remote}/${c.upstreamBranch}`);
  else {
    const ahead = Number((await steps.git(c.path).raw(['rev-list', '--count', `${c.remote}/${c.upstreamBranch}..HEAD`])).trim());
    if (ahead === 0) return { detail: [...done, 'nothing to push'].join(', ') };
    done.push(`pushed ${ahead} commit(s) to ${c.remote}/${c.upstreamBranch}`);
  }
  if (c.vcs === 'jj') {
    const jj = which('jj')!;
    await steps.change([jj, 'bookmark', 'set', c.upstreamBranch!, '--revision', '@-'], { cwd: c.path });
    await steps.change([jj, 'git', 'push', '--remote', c.remote, '--bookmark', c.upstreamBranch!], { cwd: c.path, timeoutMs: FETCH_TIMEOUT_MS, env: await remoteToolEnv(c.path) });
  } else {
    await steps.gitChange(c.path, ['push', c.remote, `HEAD:refs/heads/${c.upstreamBranch}`], FETCH_TIMEOUT_MS);
  }
  return { detail: done.join(', ') };
}

function listFiles(files: string[]): string {
  return files.slice(0, 5).join(', ') + (files.length > 5 ? `, … ${files.length - 5} more` : '');
}
