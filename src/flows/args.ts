// What a command is called with: a tree node (which carries `host` and `treeNode: true`), a
// plain object from executeCommand (code, tests), a host name, or nothing (the palette).
export interface CommandArgs {
  host?: string;
  [key: string]: unknown;
}

export function asArgs(arg: unknown): CommandArgs {
  if (typeof arg === 'string') return { host: arg };
  if (arg && typeof arg === 'object') return arg as CommandArgs;
  return {};
}

/** True when the command was called with an argument object by code (tests, other commands), not from the UI. */
export function isProgrammatic(arg: unknown): boolean {
  return !!arg && typeof arg === 'object' && !(arg as { treeNode?: unknown }).treeNode;
}
