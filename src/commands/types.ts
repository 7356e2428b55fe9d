// The command contract: one file per command exports `defineCommand({...})`; registry.ts
// lists them. See docs/extension.md "Adding a command".
import type { Container } from '../container';

export interface CommandDefinition {
  /** As in package.json contributes.commands, e.g. "nixfleet.rollback". */
  id: string;
  /** Shown in messages, e.g. "Rollback". */
  title: string;
  /** Changes a host (or settings): refused, with the reason, in an untrusted workspace. */
  mutating: boolean;
  /**
   * `arg` is a tree node (has `treeNode: true` and `host`), a plain object given to
   * executeCommand, or undefined (palette). Returns what it did (tests read it).
   */
  run(c: Container, arg: unknown, ...rest: unknown[]): Promise<unknown> | unknown;
}

export function defineCommand(def: CommandDefinition): CommandDefinition {
  return def;
}
