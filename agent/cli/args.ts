// Argument handling shared by every command: config flags (any config key, kebab case)
// are taken out first, then the command's own flags are parsed strictly.
import { parseArgs } from 'node:util';
import { parseWholeNumber, printable } from '../../protocol';
import { extractConfigFlags, loadConfig, type AgentConfig } from '../config';
import type { FlagSpec } from './opCommands';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Parsed {
  config: () => AgentConfig;
  /** Config keys given as flags. */
  overrides: Record<string, unknown>;
  configFile?: string;
  json: boolean;
  help: boolean;
  flags: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export function parseCommandArgs(command: string, args: string[], flags: Record<string, FlagSpec>, positionals = 0): Parsed {
  const { overrides, rest } = extractConfigFlags(args);
  const options: Record<string, { type: 'boolean' | 'string' }> = {
    config: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean' },
  };
  for (const [name, spec] of Object.entries(flags)) options[name] = { type: spec.type };
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${command}: ${parseArgsSentence(err as Error)}; see "nixfleet-agent ${command} --help"`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (!values.help && parsed.positionals.length > positionals) {
    throw new UsageError(`${command}: unexpected argument "${parsed.positionals[positionals]}"; see "nixfleet-agent ${command} --help"`);
  }
  const configFile = typeof values.config === 'string' ? values.config : process.env.NIXFLEET_AGENT_CONFIG;
  return {
    config: () => loadConfig(configFile, overrides),
    overrides,
    configFile,
    json: values.json === true,
    help: values.help === true,
    flags: values,
    positionals: parsed.positionals,
  };
}

/** node:util parseArgs explains over several lines; the first problem as one clause. */
function parseArgsSentence(err: Error): string {
  const ambiguous = /^Option '(--[\w-]+)(?:[^']*)' argument is ambiguous/.exec(err.message);
  if (ambiguous) return `${ambiguous[1]} needs a value (a value starting with "-" is written ${ambiguous[1]}=-VALUE)`;
  return err.message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/s, '').replace(/\.$/, '');
}

/** A whole-number flag of a command (not a config key), from `min` up to `max`. */
export function numberFlag(command: string, flag: string, value: string | boolean, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
  try {
    return parseWholeNumber(String(value), `a count`, min, max);
  } catch {
    throw new UsageError(`${command}: --${flag} takes a whole number ${range}, not "${printable(String(value))}"`);
  }
}
