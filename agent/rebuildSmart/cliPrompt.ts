// The CLI's rollback prompt: when a rebuild-smart run failed at the rebuild or the post
// checks, was not rolled back, and a person is at a terminal, ask whether to restore the
// recorded commit and generation now (the same as `rebuild-smart --rollback`).
import { createInterface } from 'node:readline/promises';
import type { OpInfo } from '../../protocol';

interface PromptIo {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Whether a failed run is one the prompt should offer to roll back. */
export function offersRollback(final: OpInfo): boolean {
  const r = final.result ?? {};
  if (final.state !== 'failed' || r.rolledBack === true || r.dryRun === true || r.rollback === true) return false;
  const phases = (Array.isArray(r.phases) ? r.phases : []) as { name?: string; status?: string }[];
  return phases.some((p) => (p.name === 'rebuild' || p.name === 'checks') && p.status === 'failed');
}

/**
 * Ask, and on "y" run the rollback through `followUp` (a new rebuild-smart op with
 * `rollback: true`). Returns that op's final record, or undefined when nothing was run.
 */
export async function rollbackPrompt(
  final: OpInfo,
  followUp: (params: Record<string, unknown>) => Promise<OpInfo>,
  io: PromptIo = { input: process.stdin, output: process.stderr },
): Promise<OpInfo | undefined> {
  if (!offersRollback(final) || !io.input.isTTY || !io.output.isTTY) return undefined;
  const r = final.result ?? {};
  const gen = r.generationBefore !== undefined ? ` and generation ${r.generationBefore}` : '';
  const rl = createInterface({ input: io.input, output: io.output });
  let answer: string;
  try {
    answer = (await rl.question(`\nRebuild Smart failed. Roll back to the commit${gen} recorded before this run? [y/N] `)).trim().toLowerCase();
  } finally {
    rl.close();
  }
  if (answer !== 'y' && answer !== 'yes') {
    io.output.write('not rolled back; later: nixfleet-agent rebuild-smart --rollback\n');
    return undefined;
  }
  return followUp({ rollback: true });
}
