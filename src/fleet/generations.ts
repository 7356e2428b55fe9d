// Generations as the user picks them: newest first, current and last-known-working marked,
// with the 30-day age rule the agent enforces (confirmOld) made visible beforehand.
import { generationAgeDays, isOldGeneration, OLD_GENERATION_DAYS, type Generation } from '../../protocol';
import { formatTime, shortRev } from './statusRows';

export function newestFirst(gens: readonly Generation[]): Generation[] {
  return [...gens].sort((a, b) => b.generation - a.generation);
}

export function ageDays(g: Generation, now = Date.now()): number {
  return generationAgeDays(Date.parse(g.createdAt), now);
}

export function isOld(g: Generation, now = Date.now()): boolean {
  return isOldGeneration(Date.parse(g.createdAt), now);
}

export function testsText(g: Generation): string {
  if (!g.checks) return 'tests not run';
  return g.checks.passed ? 'tests passed' : 'tests failed';
}

export function marks(g: Generation): string[] {
  const m: string[] = [];
  if (g.current) m.push('current');
  if (g.lastKnownWorking) m.push('last known working');
  if (!g.present) m.push('garbage-collected');
  return m;
}

/** "2026-11-20 10:31 · abc1234 · tests passed" */
export function describeGeneration(g: Generation): string {
  return [formatTime(g.createdAt), g.revision ? shortRev(g.revision) : 'commit unknown', testsText(g)].join(' · ');
}

/** Targets a rollback can go to: every present generation but the current one. */
export function rollbackTargets(gens: readonly Generation[]): Generation[] {
  return newestFirst(gens).filter((g) => !g.current && g.present);
}

/** The preselected rollback target: last known working, else the newest before the current. */
export function defaultRollbackTarget(gens: readonly Generation[]): Generation | undefined {
  const targets = rollbackTargets(gens);
  const current = gens.find((g) => g.current);
  return (
    targets.find((g) => g.lastKnownWorking) ??
    targets.find((g) => current === undefined || g.generation < current.generation) ??
    targets[0]
  );
}

export interface RollbackPlan {
  host: string;
  from?: Generation;
  to: Generation;
  old: boolean;
  /** The target is newer than the current generation: the words say "switch to", not "roll back". */
  newer: boolean;
  /** "Roll back h1 to generation 2" / "Switch h1 to generation 7": the question without FROM. */
  question: string;
  /** "Rolled back h1 to generation 2" / "Switched h1 to generation 7": the result. */
  done: string;
  /** One sentence naming FROM and TO, with the warnings after it. */
  message: string;
  /** For a confirmation dialog under a short question: FROM and TO in detail, then warnings. */
  detail: string;
}

export function planRollback(host: string, gens: readonly Generation[], target: number, now = Date.now()): RollbackPlan {
  const to = gens.find((g) => g.generation === target);
  if (!to) throw new Error(`host ${host} has no generation ${target}: pick one of the generations it lists`);
  if (to.current) throw new Error(`host ${host} already runs generation ${target}: pick another generation`);
  if (!to.present) throw new Error(`generation ${target} of host ${host} was garbage-collected and cannot be rolled back to: pick a newer one`);
  const from = gens.find((g) => g.current);
  const old = isOld(to, now);
  // The op is "rollback" either way; to a newer generation it is a move forward, and says so.
  const newer = from !== undefined && to.generation > from.generation;
  const fromText = from ? `generation ${from.generation} (${describeGeneration(from)})` : 'its current system';
  const warnings: string[] = [];
  if (old) warnings.push(`Warning: generation ${to.generation} is ${Math.floor(ageDays(to, now))} days old (older than ${OLD_GENERATION_DAYS} days).`);
  if (to.checks && !to.checks.passed) warnings.push(`Warning: generation ${to.generation} failed its health checks.`);
  if (!to.checks) warnings.push(`Warning: the health checks never ran on generation ${to.generation}: nothing says it works.`);
  const verb = newer ? 'Switch' : 'Roll back';
  const message = [`${verb} ${host} from ${fromText} to generation ${to.generation} (${describeGeneration(to)})?`, ...warnings].join('\n');
  const detail = [
    `From: ${from ? `generation ${from.generation}, ${describeGeneration(from)}${from.lastKnownWorking ? ', last known working' : ''}` : 'the current system'}`,
    `To: generation ${to.generation}, ${describeGeneration(to)}${to.lastKnownWorking ? ', last known working' : ''}${newer ? ' (newer than the current one)' : ''}`,
    ...(warnings.length ? ['', ...warnings] : []),
  ].join('\n');
  return {
    host,
    from,
    to,
    old,
    newer,
    question: `${verb} ${host} to generation ${to.generation}?`,
    done: `${newer ? 'Switched' : 'Rolled back'} ${host} to generation ${to.generation}`,
    message,
    detail,
  };
}
