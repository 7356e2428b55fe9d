// What the host runs while an op changes it: one record per host (one mutating op at a
// time), written before and after each step of a switch or rollback, so that when the
// worker is killed between two steps the agent that notices can tell which step was
// the last one done (agent/runner/recovery.ts). Without it a profile that was set but
// never activated looked like the host's current generation.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { writeJsonAtomicSync } from './atomic';

const gen = z.strictObject({ generation: z.number().int().min(1).optional(), target: z.string().min(1) });

export const activationRecord = z.strictObject({
  op: z.string(),
  /**
   * profile-changing: nix-env is changing the profile to `to` (it may or may not have).
   * profile-set: the profile points at `to`; activation has not started. (Written only
   *   by earlier agents; recovery reads it as profile-changing, which checks the profile.)
   * activating: `to`'s activation started and has not finished.
   * activated: `to` was activated; the host runs it.
   * activation-failed: `to`'s activation failed; the op restores `runs` next.
   */
  phase: z.enum(['profile-changing', 'profile-set', 'activating', 'activated', 'activation-failed']),
  /** The generation the host ran when this step began (undefined: none, a first switch). */
  runs: gen.optional(),
  to: gen,
  /** Set while the op puts back `runs` after `failed` did not activate. */
  restoring: gen.optional(),
  at: z.string(),
});
export type ActivationRecord = z.infer<typeof activationRecord>;
export type GenerationRef = z.infer<typeof gen>;

export const activationFile = (stateDir: string) => path.join(stateDir, 'activation.json');

export function readActivation(stateDir: string): ActivationRecord | undefined {
  let text: string;
  try {
    text = readFileSync(activationFile(stateDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return activationRecord.parse(JSON.parse(text));
  } catch {
    return undefined; // damaged: no claim about the host can be made from it
  }
}

/**
 * Replace the record. Every write is atomic, which is all a killed worker needs. Only a
 * record written before a step changes the host (profile-changing, activating) is also
 * fsynced, for a power cut: a later step lost with it leaves the record at that earlier
 * phase, which recovery reads no less safely (profile-set as profile-changing: it checks
 * the profile; activated or activation-failed as activating: "check the host"). The
 * fsyncs of those later steps cost a switch ~2 ms each.
 */
export function writeActivation(stateDir: string, rec: Omit<ActivationRecord, 'at'>): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const durable = rec.phase === 'profile-changing' || rec.phase === 'activating';
  writeJsonAtomicSync(activationFile(stateDir), { ...rec, at: new Date().toISOString() }, { durable });
}

export function clearActivation(stateDir: string): void {
  rmSync(activationFile(stateDir), { force: true });
}

/** Where a step of op `op` begins: the record to write before changing the profile to `to`. */
export function profileChangeStarts(stateDir: string, op: string, current: GenerationRef | undefined, to: GenerationRef): void {
  const prev = readActivation(stateDir);
  const mine = prev?.op === op ? prev : undefined;
  if (mine && (mine.phase === 'activation-failed' || mine.restoring)) {
    // Putting back what ran before a failed activation: the host is on the failed one, partly.
    writeActivation(stateDir, { op, phase: 'profile-changing', runs: mine.restoring ?? mine.to, restoring: mine.restoring ?? mine.to, to });
    return;
  }
  // At the op's first step, or after an activation it completed, the profile names what runs.
  writeActivation(stateDir, { op, phase: 'profile-changing', runs: current, to });
}

/** Move this op's record to `phase` (no record, or another op's: nothing to say). */
export function activationStep(stateDir: string, op: string, phase: ActivationRecord['phase'], to?: GenerationRef): void {
  const rec = readActivation(stateDir);
  if (!rec || rec.op !== op) return;
  if (phase === 'activated') {
    writeActivation(stateDir, { op, phase, runs: to ?? rec.to, to: to ?? rec.to });
    return;
  }
  writeActivation(stateDir, { ...rec, phase, to: to ?? rec.to });
}
