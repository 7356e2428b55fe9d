// Mutating commands ask before they change a host: on a terminal a [y/N] question (on
// stderr, so stdout keeps only results); without a terminal they need --yes, and refuse
// otherwise. The same rule as the agent's CLI (agent/rebuildSmart/cliPrompt.ts): a
// question nobody can see must never block a CI job, nor be answered for the user.
import { createInterface } from 'node:readline/promises';

export interface PromptIo {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream & { isTTY?: boolean };
}

/** The user did not confirm (declined, or no terminal and no --yes): nothing was changed. */
export class NotConfirmedError extends Error {
  override name = 'NotConfirmedError';
}

/** Refuse at once (before connecting to anything) when nobody can confirm and --yes is missing. */
export function requireConfirmable(what: string, yes: boolean, io: PromptIo): void {
  if (!yes && (!io.input.isTTY || !io.output.isTTY)) {
    throw new NotConfirmedError(`${what} changes hosts and there is no terminal to confirm it on: pass --yes to confirm in advance`);
  }
}

/**
 * Resolves when the user confirmed `question` (or gave --yes); throws NotConfirmedError
 * otherwise. `what` names the change for the refusal, e.g. "switch h1".
 */
export async function confirm(what: string, question: string, yes: boolean, io: PromptIo = { input: process.stdin, output: process.stderr }): Promise<void> {
  requireConfirmable(what, yes, io);
  if (yes) return;
  const rl = createInterface({ input: io.input, output: io.output });
  let answer: string;
  try {
    answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
  } finally {
    rl.close();
  }
  if (answer !== 'y' && answer !== 'yes') throw new NotConfirmedError(`${what} not confirmed; nothing was changed`);
}
