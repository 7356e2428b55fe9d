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

/** Both ends are a terminal: a question can be asked and answered. */
export function canAsk(io: PromptIo): boolean {
  return io.input.isTTY === true && io.output.isTTY === true;
}

/**
 * One of `choices`, asked on the terminal until the answer is one of them (the caller
 * checks canAsk first). The rollout's "ask" failure policy uses it.
 */
export async function choose<T extends string>(question: string, choices: readonly T[], io: PromptIo = { input: process.stdin, output: process.stderr }): Promise<T> {
  const rl = createInterface({ input: io.input, output: io.output });
  try {
    for (;;) {
      const answer = (await rl.question(`${question} [${choices.join('/')}] `)).trim();
      const picked = choices.find((c) => c === answer);
      if (picked) return picked;
      io.output.write(`Answer one of: ${choices.join(', ')}.\n`);
    }
  } finally {
    rl.close();
  }
}
