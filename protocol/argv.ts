// Argument vectors as shown to people (journal lines, messages, descriptions): never executed,
// only made readable with each argument's boundaries visible. Commands themselves always run
// as argv arrays.

/** One argument, shell-quoted unless it is plainly safe to read. */
export function formatArg(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** `ssh -o 'BatchMode yes' host` for ['ssh', '-o', 'BatchMode yes', 'host']. */
export function formatArgv(argv: readonly string[]): string {
  return argv.map(formatArg).join(' ');
}
