// Rules of the contract that both sides apply: the agent enforces them, the extension and the
// CLI check them early so a mistake is reported before anything reaches a host. Written once
// here; each side wraps a broken rule in its own error type and words (a CLI names flags
// `--skip-update`, the extension names arguments `skipUpdate`).
import { GC_MAX_DAYS, opParams, type Generation, type OpParams } from './messages';
import { printable } from './patterns';

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

// ---------------------------------------------------------------- gc

export type GcKeepReason = 'current' | 'last-known-working';

export interface GcPlan<G> {
  /** Older than the limit and neither current nor last known working: these go, oldest first. */
  delete: G[];
  /** Older than the limit but kept, with why. */
  kept: { generation: G; reason: GcKeepReason }[];
}

/**
 * Which generations gc deletes: those created more than `olderThanDays` days before `now`,
 * except the current one and the last known working one, which always stay.
 */
export function gcPlan<G extends Pick<Generation, 'generation' | 'createdAt' | 'current' | 'lastKnownWorking'>>(gens: readonly G[], olderThanDays: number, now = Date.now()): GcPlan<G> {
  const plan: GcPlan<G> = { delete: [], kept: [] };
  for (const g of [...gens].sort((a, b) => a.generation - b.generation)) {
    if (generationAgeDays(Date.parse(g.createdAt), now) <= olderThanDays) continue;
    if (g.current) plan.kept.push({ generation: g, reason: 'current' });
    else if (g.lastKnownWorking) plan.kept.push({ generation: g, reason: 'last-known-working' });
    else plan.delete.push(g);
  }
  return plan;
}

/**
 * An age limit in days as typed: "30d" or "30", from 1 to GC_MAX_DAYS. Throws an Error whose
 * message is one sentence.
 */
export function parseDays(text: string): number {
  const m = /^([0-9]{1,6})d?$/.exec(text.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > GC_MAX_DAYS) throw new Error(`"${printable(text)}" is not an age in days: give a whole number of days from 1 to ${GC_MAX_DAYS}, such as 30d`);
  return n;
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
