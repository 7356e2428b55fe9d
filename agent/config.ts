// The agent's configuration: one JSON file, validated strictly (unknown keys are
// rejected by name), where every key can be overridden by a CLI flag of the same
// name in kebab case (`stateDir` ← `--state-dir`).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { hostName, platform, switchMethod, flakeInput, printable, wholeNumber } from '../protocol';
import { defaultProfile, defaultRunningSystem } from './nix/platform';
import { BROKER_URL_RE } from '../protocol/broker';

const absolutePath = (what: string) =>
  z
    .string()
    .min(1)
    .refine((p) => path.isAbsolute(p), `${what} must be an absolute path`)
    .refine((p) => !p.includes('\0') && !p.split('/').includes('..'), `${what} must not contain ".." or NUL`);

const argv = z
  .array(z.string().min(1).refine((s) => !s.includes('\0'), 'must not contain NUL'))
  .min(1, 'a health check is a non-empty argv list such as ["systemctl", "is-system-running"]');

const listen = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/, 'listen must be ADDRESS:PORT, e.g. 127.0.0.1:7531 or [::1]:7531')
  .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'listen port must be at most 65535');

/**
 * A browser origin exactly as browsers send it in the Origin header: lower-case scheme
 * and host, a port only when it is not the scheme's default, no path, no trailing slash.
 */
const origin = z
  .string()
  .regex(
    /^[a-z][a-z0-9+.-]*:\/\/(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:[0-9]{1,5})?$/,
    'must be an exact origin as a browser sends it, e.g. https://fleet.example.com or http://127.0.0.1:8080 (lower case, no path, no trailing slash)',
  )
  .refine((o) => !/:(0*[0-9]{6,}|6553[6-9]|655[4-9][0-9]|65[6-9][0-9]{2}|6[6-9][0-9]{3}|[7-9][0-9]{4})$/.test(o), 'must be an exact origin with a port of at most 65535')
  .refine((o) => !/^http:\/\/.*:80$/.test(o) && !/^https:\/\/.*:443$/.test(o), 'must be an exact origin without the default port (browsers leave :80 and :443 out)');
/** nats:// or tls:// URL of a broker server (host:port, no credentials in the URL). */
const brokerUrl = z
  .string()
  .regex(BROKER_URL_RE, 'broker must be nats://HOST[:PORT] or tls://HOST[:PORT] (credentials go in brokerCredentials, not in the URL)');
/** One URL, several separated by commas (the flag's form), or a JSON list: the servers of one cluster. */
const broker = z.preprocess(
  (v) => (typeof v === 'string' && v.includes(',') ? v.split(',').map((s) => s.trim()) : v),
  z.union([brokerUrl, z.array(brokerUrl).min(1, 'broker: give at least one nats:// URL')]),
);

/** standbyWorker: booleans (the key's first form) stay valid as "always" and "never". */
const standbyMode = z.preprocess(
  (v) => (v === true || v === 'true' ? 'always' : v === false || v === 'false' ? 'never' : v),
  z.enum(['auto', 'always', 'never'], { error: 'standbyWorker must be "auto", "always" or "never" (true and false mean "always" and "never")' }),
);

export const configSchema = z.strictObject({
  /** Flake attribute name: nixosConfigurations.<host>, darwinConfigurations.<host> or homeConfigurations.<host>. */
  host: hostName,
  /** Path of the host's nixcfg checkout (a git repository holding flake.nix). */
  flake: absolutePath('flake'),
  platform,
  /** The Nix profile switched and rolled back. Defaults per platform. */
  profile: absolutePath('profile').optional(),
  /**
   * The link naming the system the host runs, which activation updates. Defaults:
   * /run/current-system (NixOS, nix-darwin); home-manager's gcroots/current-home.
   */
  runningSystem: absolutePath('runningSystem').optional(),
  /** Journals, audit log, lock and recorded metadata. */
  stateDir: absolutePath('stateDir'),
  /** ADDRESS:PORT of the WebSocket server; absent or null: no listening port (stdio, or the broker alone). */
  listen: listen.nullable().optional(),
  /** File holding the bearer token(s); must not be readable by group or others. */
  tokenFile: absolutePath('tokenFile').optional(),
  /**
   * Browser origins allowed to open a WebSocket (the upgrade's Origin header). Every other
   * request that carries an Origin is refused with 403 on every listener: a web page in a
   * browser on the host could otherwise reach a loopback listener. Controllers that are
   * not browsers (the extension, the CLI) send no Origin.
   */
  allowedOrigins: z.array(origin).max(64).default([]),
  tlsCert: absolutePath('tlsCert').optional(),
  tlsKey: absolutePath('tlsKey').optional(),
  healthChecks: z.array(argv).default([]),
  /** Seconds each health check may take before it counts as failed. */
  healthCheckTimeout: wholeNumber(1, 3600, 'seconds').default(60),
  switchMethod: switchMethod.default('direct'),
  /** The flake input that pins the agent itself, updated by self-update. */
  agentInput: flakeInput.default('nixfleet'),
  /** Rebuild Smart settings. */
  autoCommit: z.boolean().default(true),
  autoPush: z.boolean().default(true),
  updateBeforeRebuild: z.boolean().default(false),
  syncDotfiles: z.boolean().default(true),
  offlineMode: z.boolean().default(false),
  /** Magic rollback: seconds to wait for the controller's confirmation after a switch; 0 disables. */
  confirmTimeout: wholeNumber(0, 3600, 'seconds').default(30),
  /** Roll back automatically when the health checks fail after a switch. */
  rollbackOnCheckFailure: z.boolean().default(false),
  /**
   * How op workers are started: "auto" as a systemd transient unit (systemd-run) when
   * /run/systemd/system exists and the agent runs as root, else as a detached process;
   * "systemd-run" or "direct" force one. A failing systemd-run falls back to "direct".
   */
  /** NATS JetStream broker(s) the agent dials out to (docs/broker.md); the agent then needs no listening port. */
  broker: broker.optional(),
  /** NATS credentials (.creds) or nkey seed file for the broker: mode 0600, owned by the agent's user. */
  brokerCredentials: absolutePath('brokerCredentials').optional(),
  /**
   * Keep one op worker started and loaded ahead of the next op (the serving agent only), so
   * an op starts in a few ms rather than after the ~150 ms node takes to load the agent; it
   * costs one idle node process's memory while it waits. "auto": only while controllers run
   * ops on the host (from an authenticated controller's op.start until standbyIdleTimeout
   * seconds after the last one), so a host nobody operates on pays nothing; "always";
   * "never": every op's worker starts cold. true and false mean "always" and "never".
   */
  standbyWorker: standbyMode.default('auto'),
  /** Seconds without an authenticated controller's op.start after which an "auto" standby worker is retired. */
  standbyIdleTimeout: wholeNumber(1, 86_400, 'seconds').default(600),
  workerLauncher: z.enum(['auto', 'systemd-run', 'direct'], { error: 'workerLauncher must be "auto", "systemd-run" or "direct"' }).default('auto'),
});

export type AgentConfig = z.output<typeof configSchema> & { profile: string; runningSystem: string };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** camelCase config key → its CLI flag. */
export function flagFor(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

const keyByFlag = new Map(Object.keys(configSchema.shape).map((k) => [flagFor(k), k]));

/** Convert a CLI flag's text to the type the schema expects for that key. */
function flagValue(key: string, text: string): unknown {
  const field = configSchema.shape[key as keyof typeof configSchema.shape];
  const inner = field instanceof z.ZodDefault || field instanceof z.ZodOptional ? field.unwrap() : field;
  if (inner instanceof z.ZodBoolean) {
    if (text === 'true' || text === 'false') return text === 'true';
    throw new ConfigError(`${flagFor(key)} takes true or false, not "${printable(text)}"`);
  }
  if (inner instanceof z.ZodNumber) {
    if (!/^[0-9]+$/.test(text)) throw new ConfigError(`${flagFor(key)} takes a whole number, not "${printable(text)}"`);
    return Number(text);
  }
  if (inner instanceof z.ZodArray) {
    try {
      return JSON.parse(text);
    } catch {
      throw new ConfigError(`${flagFor(key)} takes a JSON list such as '[["systemctl","is-system-running"]]'`);
    }
  }
  return text;
}

/**
 * Split CLI arguments into config overrides and the rest. A config flag takes its value
 * as the next argument or after "="; flags that are not config keys are left alone.
 */
export function extractConfigFlags(args: readonly string[]): { overrides: Record<string, unknown>; rest: string[] } {
  const overrides: Record<string, unknown> = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const key = keyByFlag.get(flag);
    if (!key) {
      rest.push(arg);
      continue;
    }
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else value = args[++i];
    if (value === undefined) throw new ConfigError(`${flag} needs a value`);
    overrides[key] = flagValue(key, value);
  }
  return { overrides, rest };
}

/** The first problem as one sentence; a key given as a CLI flag is named by its flag, not the file. */
function describeIssues(error: z.ZodError, source: string, fromFlags: ReadonlySet<string>): string {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `"${printable(k)}"`).join(', ');
    return `${source}: unknown key ${keys}; allowed keys are ${Object.keys(configSchema.shape).join(', ')}`;
  }
  const key = String(issue.path[0] ?? '');
  if (fromFlags.has(key)) return `${[flagFor(key), ...issue.path.slice(1)].join('.')}: ${issue.message}`;
  const where = issue.path.length ? issue.path.join('.') : '(top level)';
  const others = new Set(error.issues.map((i) => i.path.join('.'))).size - 1;
  const more = others > 0 ? `; ${others} more key(s) have problems too` : '';
  return `${source}: ${where}: ${issue.message}${more}`;
}

/** Validate a config object (file contents merged with CLI overrides, whose keys are `fromFlags`). */
export function parseConfig(raw: unknown, source = 'config', fromFlags: ReadonlySet<string> = new Set()): AgentConfig {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, source, fromFlags));
  const cfg = parsed.data;
  if ((cfg.tlsCert === undefined) !== (cfg.tlsKey === undefined)) {
    throw new ConfigError(`${source}: tlsCert and tlsKey go together: set both for TLS, or neither`);
  }
  if (cfg.brokerCredentials !== undefined && cfg.broker === undefined) {
    throw new ConfigError(`${source}: brokerCredentials is set but broker is not: set broker to the nats:// URL(s) of your broker, or remove brokerCredentials`);
  }
  return { ...cfg, profile: cfg.profile ?? defaultProfile(cfg.platform), runningSystem: cfg.runningSystem ?? defaultRunningSystem(cfg.platform) };
}

/** Read `file` (if given), apply CLI overrides and validate. */
export function loadConfig(file: string | undefined, overrides: Record<string, unknown> = {}): AgentConfig {
  let fromFile: unknown = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}; pass --config with the path of the agent's JSON config`);
    }
    try {
      fromFile = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)) {
      throw new ConfigError(`config file ${file} must hold a JSON object`);
    }
  }
  return parseConfig({ ...(fromFile as object), ...overrides }, file ?? 'command line', new Set(Object.keys(overrides)));
}
