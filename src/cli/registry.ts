// Every `nixfleet` command, in the order `nixfleet --help` lists them. Adding a command
// means adding its file under commands/ and one line here.
import { AGENT_VERSION } from '../../agent/version';
import { printable } from '../../protocol';
import { COMMON_FLAGS, parseCommandArgs, UsageError, type FlagSpec } from './args';
import { YES_FLAG, type Command } from './command';
import { CliContext, type CliEnv } from './context';
import { brokerSetupCommand } from './commands/brokerSetup';
import { cancelCommand } from './commands/cancel';
import { deployCommand } from './commands/deploy';
import { forceRebuildCommand } from './commands/forceRebuild';
import { gcCommand } from './commands/gc';
import { generationsCommand } from './commands/generations';
import { hostsCommand } from './commands/hosts';
import { logCommand } from './commands/log';
import { planCommand } from './commands/plan';
import { pullCommand } from './commands/pull';
import { rollbackCommand } from './commands/rollback';
import { statusCommand } from './commands/status';
import { switchCommand } from './commands/switch';
import { testCommand } from './commands/test';

export const COMMANDS: readonly Command[] = [
  hostsCommand,
  statusCommand,
  generationsCommand,
  switchCommand,
  forceRebuildCommand,
  rollbackCommand,
  testCommand,
  pullCommand,
  gcCommand,
  cancelCommand,
  planCommand,
  deployCommand,
  logCommand,
  brokerSetupCommand,
];

function flagsOf(c: Command): Record<string, FlagSpec> {
  return { ...c.flags, ...(c.mutating ? { yes: YES_FLAG } : {}) };
}

function flagLine(name: string, s: FlagSpec): string {
  return `  --${name}${s.type === 'string' ? ' ' + (s.value ?? 'VALUE') : ''}`.padEnd(28) + s.help;
}

export function usage(c: Command): string {
  const flags = Object.entries(flagsOf(c)).map(([f, s]) => ` [--${f}${s.type === 'string' ? ' ' + (s.value ?? 'VALUE') : ''}]`);
  return `nixfleet ${[c.name, ...c.positionals].join(' ')}${flags.join('')} [--json]`;
}

export function helpFor(c: Command): string {
  return [
    usage(c),
    '',
    c.summary,
    ...(c.details ? ['', c.details] : []),
    '',
    'Options:',
    ...Object.entries(flagsOf(c)).map(([f, s]) => flagLine(f, s)),
    ...Object.entries(COMMON_FLAGS).map(([f, s]) => flagLine(f, s)),
  ].join('\n');
}

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    `nixfleet ${AGENT_VERSION}: operate a NixFleet fleet from a terminal or CI (docs/cli.md)`,
    '',
    'Usage: nixfleet <command> [arguments] --hosts-file FILE [--tokens-file FILE] [--json]',
    '       nixfleet <command> [arguments] --broker URL[,URL…] --credentials FILE [--json]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Tokens: --tokens-file FILE (one "HOST TOKEN" per line, mode 0600, yours) or NIXFLEET_TOKEN_<HOST> variables.',
    'Exit status: 0 success, 1 failure (op failed, host offline, not confirmed), 2 bad arguments.',
    'Run "nixfleet <command> --help" for its options.',
  ].join('\n');
}

export async function runCli(argv: readonly string[], env: CliEnv): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    env.out.print(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    env.out.print(AGENT_VERSION);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command "${printable(name)}"; run "nixfleet --help" for the list`);
  const parsed = parseCommandArgs(name, args, flagsOf(command), command.positionals);
  if (parsed.help) {
    env.out.print(helpFor(command));
    return 0;
  }
  if (command.finishesOnInterrupt) env.finishOnInterrupt();
  const ctx = new CliContext(name, parsed.flags, parsed.positionals, env);
  try {
    if (!command.brokerOnly) await ctx.prepare();
    return await command.run(ctx);
  } finally {
    await ctx.close();
  }
}
