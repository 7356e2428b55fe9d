// Rules of the contract that both sides apply: the agent enforces them, the extension and the
// CLI check them early so a mistake is reported before anything reaches a host. Written once
// here; each side wraps a broken rule in its own error type and words (a CLI names flags
// `--skip-update`, the extension names arguments `skipUpdate`).
import { opParams, type OpParams } from './messages';

// ---------------------------------------------------------------- rollback

/** A rollback target older than this needs an explicit confirmation (`confirmOld`, CLI `--yes`). */
export const OLD_GENERATION_DAYS = 30;
const DAY_MS = 86_400_000;

/** Age in days of a generation created at `createdMs` (epoch ms). */
export function generationAgeDays(createdMs: number, now = Date.now()): number {
  return (now - createdMs) / DAY_MS;
}

/** True when rolling back to a generation of this age needs `confirmOld`. */
export function isOldGeneration(createdMs: number, now = Date.now()): boolean {
  return generationAgeDays(createdMs, now) > OLD_GENERATION_DAYS;
}

// ---------------------------------------------------------------- rebuild-smart

export type RebuildSmartParams = OpParams<'rebuild-smart'>;
export type RebuildSmartFlag = keyof RebuildSmartParams;

/** Every flag of a Rebuild Smart run, in the schema's order: the schema is the one list. */
export const REBUILD_SMART_FLAGS = Object.keys(opParams['rebuild-smart'].shape) as RebuildSmartFlag[];

/**
 * The flags that choose or change the phases of a run. `rollback` restores the last run's commit
 * and generation instead of running phases, so none of these may come with it (only `dryRun`,
 * and the commit policy `autoCommit`/`autoPush` that the extension always sends).
 */
export const REBUILD_SMART_PHASE_FLAGS = ['skipUpstream', 'skipDotfiles', 'skipUpdate', 'update', 'offline', 'rollbackOnFailure'] as const satisfies readonly RebuildSmartFlag[];

/**
 * Which rule a set of Rebuild Smart params breaks, if any:
 * - `update-and-skip-update`: `update` and `skipUpdate` contradict each other;
 * - `rollback-with-phase-flags`: `rollback` came with a phase flag (see REBUILD_SMART_PHASE_FLAGS).
 */
export type RebuildSmartConflict = 'update-and-skip-update' | 'rollback-with-phase-flags';

export function rebuildSmartConflict(params: Partial<Record<RebuildSmartFlag, unknown>>): RebuildSmartConflict | undefined {
  if (params.update === true && params.skipUpdate === true) return 'update-and-skip-update';
  if (params.rollback === true && REBUILD_SMART_PHASE_FLAGS.some((f) => params[f] === true)) return 'rollback-with-phase-flags';
  return undefined;
}

/**
 * The journal line that says a Rebuild Smart phase started ("⏳ rebuild: running"). The agent
 * writes it (agent/rebuildSmart/phaseRunner.ts); the extension's progress notification reads it
 * back with `phaseStarted`, so the two never drift apart.
 */
export function phaseStartLine(phase: string): string {
  return `⏳ ${phase}: running`;
}

/** The phase a journal line says started, or undefined for any other line. */
export function phaseStarted(text: string): string | undefined {
  return /^⏳ ([a-z][a-z-]*): running$/.exec(text)?.[1];
}
