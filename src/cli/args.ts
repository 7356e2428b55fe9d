// The one argv parser of `nixfleet`: node's own util.parseArgs (strict: unknown flags,
// missing values and stray positionals are errors), the same as the agent's CLI. A
// dependency such as commander or yargs would bring its own help, exit codes and error
// texts, which the one-sentence-on-stderr / exit-2 contract would have to undo.
// Every value is then checked with the protocol's patterns before anything connects.
import { parseArgs } from 'node:util';
import { commitHash, hostName, parseGeneration, printable } from '../../protocol';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagSpec {
  type: 'boolean' | 'string';
  help: string;
  /** Placeholder shown in help for string flags. */
  value?: string;
  /** A string flag that may be given more than once (its values in order). */
  multiple?: boolean;
}

export type FlagValues = Record<string, string | string[] | boolean | undefined>;

export interface ParsedArgs {
  flags: FlagValues;
  positionals: string[];
  help: boolean;
}

/** Flags every command takes. */
export const COMMON_FLAGS: Record<string, FlagSpec> = {
  'hosts-file': { type: 'string', value: 'FILE', help: 'the hosts JSON (same as the nixfleet.hosts setting); or $NIXFLEET_HOSTS_FILE' },
  'tokens-file': { type: 'string', value: 'FILE', help: 'agent tokens, one "HOST TOKEN" per line, mode 0600; or $NIXFLEET_TOKENS_FILE' },
  broker: { type: 'string', value: 'URL[,URL…]', help: 'reach the hosts through a NATS broker (nats:// or tls://) instead of a hosts file; or $NIXFLEET_BROKER' },
  credentials: { type: 'string', value: 'FILE', help: 'the operator\'s NATS nkey seed or .creds file for --broker, mode 0600; or $NIXFLEET_BROKER_CREDENTIALS' },
  json: { type: 'boolean', help: 'machine-readable output on stdout' },
  help: { type: 'boolean', help: 'show this help' },
};

export function parseCommandArgs(command: string, args: string[], flags: Record<string, FlagSpec>, positionals: readonly string[]): ParsedArgs {
  const options: Record<string, { type: 'boolean' | 'string'; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries({ ...COMMON_FLAGS, ...flags })) options[name] = { type: spec.type, ...(spec.multiple ? { multiple: true } : {}) };
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${command}: ${describeParseError(err as Error & { code?: string })}; see "nixfleet ${command} --help"`);
  }
  const values = parsed.values as FlagValues;
  const help = values.help === true;
  if (!help && parsed.positionals.length > positionals.length) {
    throw new UsageError(`${command}: unexpected argument "${printable(parsed.positionals[positionals.length]!)}"; see "nixfleet ${command} --help"`);
  }
  return { flags: values, positionals: parsed.positionals, help };
}

/** util.parseArgs's multi-line messages as one clause, by its error codes. */
function describeParseError(err: Error & { code?: string }): string {
  const option = /'(-[^' ]*)/.exec(err.message)?.[1];
  if (option && err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${printable(option)}`;
  if (option && err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (/does not take an argument/.test(err.message)) return `${option} takes no value`;
    return `${option} needs a value (one that starts with "-" is written ${option}=VALUE)`;
  }
  return printable(err.message.split('\n')[0]!.replace(/\.$/, ''), 200);
}

// ------------------------------------------------------------ validated values

export function hostArg(command: string, text: string | undefined, what = 'HOST'): string {
  if (text === undefined) throw new UsageError(`${command}: give the ${what === 'HOST' ? 'host name' : what}; see "nixfleet ${command} --help"`);
  if (!hostName.safeParse(text).success) {
    throw new UsageError(`${command}: "${printable(text)}" is not a host name (a flake attribute name, or user@host for home-manager)`);
  }
  return text;
}

/** A comma-separated list of host names, each once. */
export function hostListArg(command: string, flag: string, text: string): string[] {
  const names = text.split(',').map((s) => s.trim());
  if (names.some((n) => n === '')) throw new UsageError(`${command}: --${flag} takes host names separated by commas, such as "web1,web2", not "${printable(text)}"`);
  const seen = new Set<string>();
  for (const n of names) {
    hostArg(command, n);
    if (seen.has(n)) throw new UsageError(`${command}: --${flag} names host ${n} twice; give each host once`);
    seen.add(n);
  }
  return names;
}

/** A whole number in [min, max], written as plain digits. */
export function intArg(command: string, flag: string, text: string, min: number, max: number): number {
  const n = /^[0-9]{1,10}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${command}: --${flag} takes a whole number from ${min} to ${max}, not "${printable(text)}"`);
  }
  return n;
}

export function generationArg(command: string, flag: string, text: string): number {
  try {
    return parseGeneration(text);
  } catch (err) {
    throw new UsageError(`${command}: --${flag}: ${(err as Error).message}`);
  }
}

export function commitArg(command: string, flag: string, text: string): string {
  if (!commitHash.safeParse(text).success) {
    throw new UsageError(`${command}: --${flag} takes a commit hash (7-64 lowercase hex digits, e.g. from "git rev-parse HEAD"), not "${printable(text)}"`);
  }
  return text;
}

/** A repeatable string flag's values, in order (empty when not given). */
export function stringsFlag(flags: FlagValues, name: string): string[] {
  const v = flags[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

/** A string flag's value, or undefined when not given. */
export function stringFlag(flags: FlagValues, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}
