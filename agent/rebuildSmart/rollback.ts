// Back to where a run started: the nixcfg checkout to the recorded commit (uncommitted
// changes carried over in a stash, never dropped) and the profile to the recorded
// generation, re-activated. Used after a failed rebuild or check (rollbackOnFailure) and
// by `rebuild-smart --rollback` from the record on disk.
import { errorText } from './phaseRunner';
import { ourStashes, readWorkTree, short, STASH_MARK } from './gitState';
import { readRecord, writeRecord, type RollbackRecord } from './record';
import type { PhaseOutcome, RunState } from './types';

export async function rollbackToRecord(run: RunState, record: RollbackRecord): Promise<PhaseOutcome> {
  const { steps, config, ctx } = run;
  if (record.host !== config.host || record.checkout !== config.flake || record.profile !== config.profile) {
    throw new Error(
      `the rollback record is for host ${record.host} (checkout ${record.checkout}, profile ${record.profile}), not this agent's config (${config.host}, ${config.flake}, ${config.profile}); roll back by hand`,
    );
  }
  const done: string[] = [];
  const git = steps.git(record.checkout);
  const tree = await readWorkTree(git);
  if (record.branch && tree.branch !== record.branch) {
    throw new Error(`the checkout ${record.checkout} is on ${tree.branch ?? 'a detached HEAD'}, but the run started on ${record.branch}: check out ${record.branch} and roll back again`);
  }
  if (tree.commit !== record.commit) {
    const exists = await git.raw(['cat-file', '-t', record.commit]).then((t) => t.trim() === 'commit', () => false);
    if (!exists) throw new Error(`the recorded commit ${record.commit} is not in ${record.checkout} any more: reset it by hand`);
    const local = tree.dirty.length > 0 || tree.untracked.length > 0;
    steps.say(`the checkout is at ${tree.commit}; after the reset, git -C ${record.checkout} reset --hard ${tree.commit} would bring it back`);
    if (local) await steps.gitChange(record.checkout, ['stash', 'push', '--include-untracked', '--message', `${STASH_MARK} ${ctx.opId} rollback`]);
    await steps.gitChange(record.checkout, ['reset', '--hard', record.commit]);
    if (local && !steps.dryRun) {
      const [ours] = await ourStashes(steps.cleanupGit(record.checkout), ctx.opId);
      if (ours) {
        steps.say(`$ git stash pop --index ${ours.ref} (in ${record.checkout})`);
        try {
          await steps.cleanupGit(record.checkout).raw(['stash', 'pop', '--index', ours.ref]);
        } catch (err) {
          run.warnings.push(`rollback: your uncommitted changes did not re-apply on ${short(record.commit)} (${errorText(err).slice(0, 160)}); they are kept in ${ours.ref}`);
        }
      }
    } else if (local) await steps.gitChange(record.checkout, ['stash', 'pop', '--index']);
    done.push(`checkout ${short(tree.commit)} → ${short(record.commit)}`);
  } else done.push(`checkout already at ${short(record.commit)}`);

  const now = await run.nix.currentGeneration(config.profile);
  if (record.generation === undefined) {
    done.push('no generation was recorded (the profile was empty): the profile was left as it is');
  } else if (now?.generation === record.generation) {
    done.push(`generation ${record.generation} already current`);
  } else if (steps.dryRun) {
    await steps.change(['nix-env', '-p', config.profile, '--switch-generation', String(record.generation)]);
    steps.say(`[dry-run] would activate generation ${record.generation} (${record.generationPath ?? '?'})`);
    done.push(`would switch to generation ${record.generation}`);
  } else {
    await run.nix.switchToGeneration(ctx, record.generation);
    done.push(`generation ${now?.generation ?? 'none'} → ${record.generation}`);
  }
  if (!steps.dryRun) {
    writeRecord(config.stateDir, { ...record, rolledBackAt: new Date().toISOString() });
    run.rolledBack = true;
    run.after = await run.nix.currentGeneration(config.profile);
  }
  return { detail: done.join(', ') };
}

/** `--rollback`: restore what the last recorded run started from. */
export async function rollbackLastRun(run: RunState): Promise<PhaseOutcome> {
  const record = readRecord(run.config.stateDir);
  run.before = await run.nix.currentGeneration(run.config.profile);
  if (record.rolledBackAt) run.steps.say(`note: this record was already rolled back at ${record.rolledBackAt}; restoring it again`);
  run.steps.say(`rolling back to the state before op ${record.opId} (${record.at}): commit ${short(record.commit)}, generation ${record.generation ?? 'none'}`);
  return rollbackToRecord(run, record);
}
