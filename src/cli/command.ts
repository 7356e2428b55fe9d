// What a `nixfleet` command is: its name, help, flags and positionals, and run(). Each
// command lives in its own file under commands/; registry.ts lists them.
import type { FlagSpec } from './args';
import type { CliContext } from './context';

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Positional arguments, in order, as shown in usage (e.g. ["HOST", "OP"]). */
  positionals: string[];
  flags: Record<string, FlagSpec>;
  /** It changes hosts: takes --yes, asks on a terminal, refuses without either. */
  mutating: boolean;
  /**
   * Ctrl-C does not end it at once: the first one cancels its op or stops a deploy's hosts
   * that have not started, and it finishes reporting (a second Ctrl-C leaves at once).
   * Commands without it (reads, log --follow) exit with 130 on the first Ctrl-C.
   */
  finishesOnInterrupt?: boolean;
  /**
   * It works on the broker itself, not on hosts (broker-setup): no host list is loaded
   * before it runs, and it connects by itself.
   */
  brokerOnly?: boolean;
  /** Paragraphs for --help after the summary. */
  details?: string;
  run(ctx: CliContext): Promise<number>;
}

export const YES_FLAG: FlagSpec = { type: 'boolean', help: 'confirm in advance (needed when stdin/stderr is not a terminal)' };
export const MAGIC_FLAG: FlagSpec = { type: 'boolean', help: 'no magic rollback: do not make the host wait for a confirmation after activating' };
export const OP_ID_FLAG: FlagSpec = { type: 'string', value: 'ID', help: 'op id to use (retrying with the same id never runs the op twice)' };
