// Rebuild Smart: pull nixcfg, sync dotfiles, update secrets (and with --update every
// input), rebuild, check, commit and push, as one op with a live phase list. Each phase
// is one named function under phases/; this file wires them, applies the failure policy
// and produces the OpResult (with the structured phase list for VS Code).
import { rmSync } from 'node:fs';
import { rebuildSmartConflict, type OpParams, type OpResult } from '../../protocol';
import { OpError, type OpContext } from '../ops/types';
import { readWorkTree, short } from './gitState';
import { agentNixSide } from './nixSide';
import { runPhases, summaryTable, type PhaseSpec, type PhasesOutcome } from './phaseRunner';
import { commitAndPush, commitSkip } from './phases/commitPush';
import { dotfiles, dotfilesSkip } from './phases/dotfiles';
import { secretsSkip, updateAllInputs, updateSecrets, updateSkip } from './phases/flakeInputs';
import { postChecks } from './phases/postChecks';
import { prepare } from './phases/prepare';
import { rebuild } from './phases/rebuild';
import { upstreamSkip, upstreamSync } from './phases/upstream';
import { readRecord, recordPath, writeRecord } from './record';
import { rollbackLastRun, rollbackToRecord } from './rollback';
import { Steps } from './steps';
import type { NixSide, PhaseResult, RunFlags, RunState } from './types';

export type RebuildSmartParams = OpParams<'rebuild-smart'>;

export const PHASE_SPECS: PhaseSpec[] = [
  { name: 'prepare', fn: prepare },
  { name: 'upstream', fn: upstreamSync, skip: upstreamSkip, soft: true },
  { name: 'dotfiles', fn: dotfiles, skip: dotfilesSkip, soft: true },
  // Built with the secrets locked before when their update fails: a warning, not a stop.
  { name: 'secrets', fn: updateSecrets, skip: secretsSkip, soft: true },
  { name: 'update', fn: updateAllInputs, skip: updateSkip },
  { name: 'rebuild', fn: rebuild },
  { name: 'checks', fn: postChecks },
  // The host is rebuilt and checked by now: a failed commit or push must not undo that.
  { name: 'commit', fn: commitAndPush, skip: commitSkip, soft: true },
];

export function resolveFlags(ctx: OpContext, params: RebuildSmartParams): RunFlags {
  const c = ctx.config;
  return {
    skipUpstream: params.skipUpstream ?? false,
    skipDotfiles: params.skipDotfiles ?? false,
    update: (params.update ?? c.updateBeforeRebuild) && !params.skipUpdate,
    dryRun: params.dryRun ?? false,
    // The host's standing policy for failed checks applies here too, unless the run says otherwise.
    rollbackOnFailure: params.rollbackOnFailure ?? c.rollbackOnCheckFailure,
    autoCommit: params.autoCommit ?? c.autoCommit,
    autoPush: params.autoPush ?? c.autoPush,
    syncDotfiles: c.syncDotfiles,
  };
}

export async function runRebuildSmart(ctx: OpContext, params: RebuildSmartParams, nix: NixSide = agentNixSide): Promise<OpResult> {
  const conflict = rebuildSmartConflict(params);
  if (conflict === 'update-and-skip-update') {
    throw new OpError('--update and --skip-update contradict each other: give one of them');
  }
  if (conflict === 'rollback-with-phase-flags') {
    throw new OpError('--rollback restores the last run\'s commit and generation and takes no other phase flags (only --dry-run)');
  }
  const flags = resolveFlags(ctx, params);
  const run: RunState = {
    ctx,
    config: ctx.config,
    flags,
    steps: new Steps(ctx, flags.dryRun),
    nix,
    warnings: [],
    offline: params.offline ?? false,
    offlineReason: params.offline ? '--offline' : undefined,
    commitsMade: [],
    lockChanges: [],
  };
  const mode = flags.dryRun ? ' (dry run: nothing is changed)' : '';
  ctx.log('info', `Rebuild Smart on ${ctx.config.host}${params.rollback ? ': rollback' : ''}${mode}`);

  let outcome: PhasesOutcome;
  if (params.rollback) {
    outcome = await runPhases(run, [{ name: 'rollback', fn: rollbackLastRun }]);
  } else {
    outcome = await runPhases(run, PHASE_SPECS);
    if (outcome.cancelled && outcome.stoppedAt === 'rebuild' && !flags.dryRun) await restoreAfterCancelledSwitch(run);
    const rebuildFailed = outcome.stoppedAt === 'rebuild' || outcome.stoppedAt === 'checks';
    if (rebuildFailed && !outcome.cancelled && flags.rollbackOnFailure && !flags.dryRun) {
      ctx.log('info', 'rollback on failure: restoring the commit and generation recorded before this run');
      const rb = await runPhases(run, [{ name: 'rollback', fn: (r) => rollbackToRecord(r, readRecord(r.config.stateDir)) }]);
      outcome.phases.push(...rb.phases);
      if (rb.error) outcome.error = `${outcome.error}; the rollback failed too: ${rb.error}`;
    }
  }
  return finish(run, params, outcome);
}

/**
 * A cancel inside the rebuild may have cut an activation short: the profile then points
 * at a system that is only half switched to. Put the recorded generation back (profile
 * and activation), with commands that no longer listen to the spent cancel signal.
 */
async function restoreAfterCancelledSwitch(run: RunState): Promise<void> {
  const { ctx, config } = run;
  const now = await run.nix.currentGeneration(config.profile);
  if (!run.before || !now || now.generation === run.before.generation) return;
  const live = new AbortController().signal;
  const cleanupCtx: OpContext = Object.create(ctx, {
    signal: { value: live },
    run: { value: (argv: readonly string[], opts: Parameters<OpContext['run']>[1] = {}) => ctx.run(argv, { ...opts, signal: live }) },
  });
  ctx.log('info', `cancelled during the switch: restoring generation ${run.before.generation} (the profile was at ${now.generation})`);
  try {
    await run.nix.switchToGeneration(cleanupCtx, run.before.generation);
    run.warnings.push(`rebuild: cancelled during the switch; generation ${run.before.generation} was restored and re-activated`);
  } catch (err) {
    run.warnings.push(`rebuild: cancelled during the switch and restoring generation ${run.before.generation} failed (${(err as Error).message}); run rebuild-smart --rollback`);
  }
}

async function finish(run: RunState, params: RebuildSmartParams, outcome: PhasesOutcome): Promise<OpResult> {
  const { ctx, config, flags } = run;
  const state = await describeState(run);
  keepRecordOfLastChange(run, state);
  const status = outcome.cancelled
    ? `cancelled during ${outcome.stoppedAt}`
    : outcome.stoppedAt
      ? `failed at ${outcome.stoppedAt}${run.rolledBack ? ', rolled back' : ''}`
      : flags.dryRun
        ? 'dry run done'
        : 'succeeded';
  for (const line of summaryTable(outcome.phases, `Rebuild Smart on ${config.host}: ${status}`)) ctx.log('info', line);
  for (const w of run.warnings) ctx.log('info', `warning: ${w}`);
  if (flags.dryRun) ctx.log('info', `dry run: ${run.steps.planned.length} command(s) would run; none was run`);
  ctx.log('info', state.text);

  const result: OpResult = {
    generationBefore: run.before?.generation,
    generationAfter: run.after?.generation ?? run.before?.generation,
    storePath: run.after?.path,
    revision: state.commit,
    checks: run.checksPassed === undefined ? 'not-run' : run.checksPassed ? 'passed' : 'failed',
    message: `${status}; ${state.text}`,
    phases: outcome.phases satisfies PhaseResult[],
    warnings: run.warnings,
    offline: run.offline,
    dryRun: flags.dryRun,
    ...(flags.dryRun ? { plannedCommands: run.steps.planned } : {}),
    ...(run.closureDiff ? { closureDiff: run.closureDiff } : {}),
    ...(run.lockChanges.length ? { lockChanges: run.lockChanges } : {}),
    commitsMade: run.commitsMade,
    rolledBack: run.rolledBack ?? false,
    ...(params.rollback ? { rollback: true } : {}),
  };
  if (outcome.cancelled) throw new OpError(`Rebuild Smart on ${config.host} was ${status}; ${state.text}`, result);
  if (outcome.stoppedAt) {
    const next = run.rolledBack
      ? 'fix the cause and run Rebuild Smart again'
      : outcome.stoppedAt === 'rebuild' || outcome.stoppedAt === 'checks'
        ? 'roll back with `nixfleet-agent rebuild-smart --rollback` (or the Rollback button), or fix and run again'
        : 'fix the cause and run Rebuild Smart again';
    throw new OpError(`Rebuild Smart on ${config.host} ${status}: ${outcome.error}; ${next}`, result);
  }
  return result;
}

/**
 * A run that changed neither the commit nor the generation (stopped at a conflict, found
 * nothing to do) must not replace the record of the run before it, or `--rollback` would
 * undo nothing.
 */
function keepRecordOfLastChange(run: RunState, state: { commit?: string; generation?: number }): void {
  if (run.flags.dryRun || !run.checkout || run.rolledBack) return;
  const unchanged = state.commit === run.checkout.commit && state.generation === run.before?.generation;
  if (!unchanged) return;
  if (run.previousRecord) writeRecord(run.config.stateDir, run.previousRecord);
  else rmSync(recordPath(run.config.stateDir), { force: true });
}

/** Where the checkout and the profile are now, against what the run started from. */
async function describeState(run: RunState): Promise<{ text: string; commit?: string; generation?: number }> {
  const parts: string[] = [];
  let commit: string | undefined;
  try {
    const tree = await readWorkTree(run.steps.cleanupGit(run.config.flake));
    commit = tree.commit;
    const started = run.checkout?.commit;
    parts.push(
      `checkout ${run.config.flake} at ${short(tree.commit)}${started && started !== tree.commit ? ` (was ${short(started)})` : started ? ' (unchanged)' : ''}${tree.dirty.length ? `, ${tree.dirty.length} uncommitted change(s)` : ''}`,
    );
  } catch (err) {
    parts.push(`checkout ${run.config.flake} could not be read (${(err as Error).message.split('\n')[0]})`);
  }
  const now = await run.nix.currentGeneration(run.config.profile).catch(() => undefined);
  const was = run.before?.generation;
  parts.push(`generation ${now?.generation ?? 'none'}${was !== undefined && was !== now?.generation ? ` (was ${was})` : was !== undefined ? ' (unchanged)' : ''}`);
  return { text: `now: ${parts.join('; ')}`, commit, generation: now?.generation };
}
