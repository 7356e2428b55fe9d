// What each op kind puts in its result, beyond the fields every op may set (`opResult` in
// messages.ts). The agent writes these; the extension reads them through `opResultOf`, so a
// field is typed where it is read instead of cast. Results stay open (catchall): an older
// controller ignores fields a newer agent adds.
import { z } from 'zod';
import { opResult, type OpKind } from './messages';
import { hostPlan } from './plan';

/** `nix store diff-closures` lines, current generation → the built one. */
const closureDiff = z.array(z.string()).optional();

export const opResults = {
  switch: opResult,
  'force-rebuild': opResult.extend({ fromSource: z.boolean().optional() }),
  rollback: opResult,
  test: opResult,
  pull: opResult,
  /** `plan`: what switching to the build would change (agents with the build-plan capability). */
  build: opResult.extend({ closureDiff, plan: hostPlan.optional() }),
  'rebuild-smart': opResult.extend({
    closureDiff,
    dryRun: z.boolean().optional(),
    offline: z.boolean().optional(),
    rolledBack: z.boolean().optional(),
    warnings: z.array(z.string()).optional(),
    commitsMade: z.array(z.string()).optional(),
    rollback: z.boolean().optional(),
    /** Every phase in order, with what it did (or, in a dry run, would do) or why it was skipped. */
    phases: z.array(z.object({ name: z.string(), title: z.string(), status: z.string(), seconds: z.number(), detail: z.string().optional() })).optional(),
    /** A dry run: every command the run would run, as the journal prints them. */
    plannedCommands: z.array(z.string()).optional(),
  }),
  /** The generations deleted (a dry run: that it would delete), oldest first; and those older than the limit that stay, with why. */
  gc: opResult.extend({
    olderThanDays: z.number().int().optional(),
    dryRun: z.boolean().optional(),
    generations: z.array(z.object({ generation: z.number().int(), createdAt: z.string(), path: z.string() })).optional(),
    kept: z.array(z.object({ generation: z.number().int(), reason: z.enum(['current', 'last-known-working']) })).optional(),
  }),
  'self-update': opResult.extend({ input: z.string().optional(), verify: z.boolean().optional(), dryRun: z.boolean().optional() }),
} as const satisfies Record<OpKind, z.ZodType>;

export type OpResultOf<K extends OpKind> = z.infer<(typeof opResults)[K]>;

/**
 * The result of a `kind` op, typed; undefined when there is none or it does not match the
 * kind's schema (an agent that broke the contract: the caller treats it as "no result").
 */
export function opResultOf<K extends OpKind>(kind: K, result: unknown): OpResultOf<K> | undefined {
  if (result === undefined) return undefined;
  const parsed = opResults[kind].safeParse(result);
  return parsed.success ? (parsed.data as OpResultOf<K>) : undefined;
}

/** The `build` op's result as an agent with the build-plan capability writes it. */
export type BuildResult = OpResultOf<'build'> & { storePath: string; revision: string; closureDiff: string[]; plan: NonNullable<OpResultOf<'build'>['plan']> };
