// The rollback record: the commit and generation a run started from, written before the
// run changes anything, so a failed run (or `rebuild-smart --rollback` later, even after
// the agent was killed) can bring both back.
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { writeJsonAtomicSync } from '../state/atomic';

export const rollbackRecord = z.strictObject({
  opId: z.string(),
  host: z.string(),
  at: z.string(),
  checkout: z.string(),
  commit: z.string().regex(/^[0-9a-f]{40,64}$/),
  branch: z.string().optional(),
  profile: z.string(),
  generation: z.number().int().min(1).optional(),
  generationPath: z.string().optional(),
  /** Set once a rollback restored this record. */
  rolledBackAt: z.string().optional(),
});
export type RollbackRecord = z.infer<typeof rollbackRecord>;

export function recordPath(stateDir: string): string {
  return path.join(stateDir, 'rebuild-smart', 'last-run.json');
}

export function writeRecord(stateDir: string, record: RollbackRecord): void {
  const file = recordPath(stateDir);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeJsonAtomicSync(file, rollbackRecord.parse(record));
}

/** The last run's record, or an explanation of why there is none usable. */
export function readRecord(stateDir: string): RollbackRecord {
  const file = recordPath(stateDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`no Rebuild Smart run is recorded in ${file}: there is nothing to roll back to; run rebuild-smart first`);
    }
    throw new Error(`cannot read the rollback record ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`the rollback record ${file} is not valid JSON; delete it and roll back by hand (git reset, rollback op)`);
  }
  const parsed = rollbackRecord.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`the rollback record ${file} is invalid at ${issue.path.join('.') || '(top)'}: ${issue.message}; delete it and roll back by hand`);
  }
  return parsed.data;
}
