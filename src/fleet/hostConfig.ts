// The `nixfleet.hosts` setting: validated entry by entry, so one bad entry is reported
// by name and does not hide the others.
import { z } from 'zod';
import { hostName, platform, printable, type Platform } from '../../protocol';

export interface HostEntry {
  name: string;
  address: string;
  platform: Platform;
  /** ssh:// hosts: the agent config file on the host, passed as `--config`. */
  agentConfig?: string;
  /** ssh:// hosts: an ssh client config file on this machine, used instead of ~/.ssh/config (ssh -F). */
  sshConfig?: string;
  /** ssh:// hosts: the private key to log in with (ssh -i, IdentitiesOnly). */
  identityFile?: string;
  /** Tags for rollout waves (`tag:NAME`), merged with the flake's `nixfleetTags.<host>`. */
  tags?: string[];
}

/** Host tags (settings and the flake's nixfleetTags): what `tag:NAME` in a rollout wave names. */
export const TAG_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** The parts of a host entry that shape its ssh command. */
export type SshSettings = Pick<HostEntry, 'agentConfig' | 'sshConfig' | 'identityFile'>;

/** Seconds ssh waits for the TCP connection: a host that is down fails instead of hanging. */
export const SSH_CONNECT_TIMEOUT_S = 15;

/**
 * How to reach an agent: a WebSocket URL, a command whose stdio speaks the protocol, or the
 * NATS broker of the `nixfleet.broker` setting (address `broker`; src/broker/).
 */
export type AgentEndpoint =
  | { kind: 'ws'; url: string }
  | { kind: 'command'; argv: string[]; display: string }
  | { kind: 'broker' };

/** The address of a host reached through the broker (written in nixfleet.hosts, or given to hosts found in its status bucket). */
export const BROKER_ADDRESS = 'broker';

// ssh user and host end up in an argv: refuse anything that ssh could read as an option.
const SSH_USER_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/;
const SSH_HOST_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252})$/;

// ssh joins the remote command into one string that the host's shell parses, so the
// agent config path must hold nothing a shell would read: no spaces, quotes, ";", "$", "`".
const AGENT_CONFIG_RULE =
  'agentConfig must be an absolute path on the host made of letters, digits and "._@+-/" (no spaces, shell characters or "..")';
function isSafeRemotePath(p: string): boolean {
  return /^\/[A-Za-z0-9._@+\/-]+$/.test(p) && !p.split('/').includes('..');
}

// Files on this machine that end up in ssh's argv (after -F / -i, never read as options).
const LOCAL_FILE_RULE = 'must be an absolute path of a file on this machine (no control characters)';
function isLocalPath(p: string): boolean {
  return p.startsWith('/') && !/[\0-\x1f\x7f]/.test(p);
}
const localFile = z.string().min(2).max(4096).refine(isLocalPath, LOCAL_FILE_RULE);

const entrySchema = z.strictObject({
  name: hostName,
  address: z.string().min(1).max(300),
  platform,
  agentConfig: z
    .string()
    .min(1)
    .max(4096)
    .refine(isSafeRemotePath, AGENT_CONFIG_RULE)
    .optional(),
  sshConfig: localFile.optional(),
  identityFile: localFile.optional(),
  tags: z.array(z.string().regex(TAG_RE, 'a tag is letters, digits, ".", "_" and "-"')).max(64).optional(),
});

/**
 * Parse a host address into an endpoint; throws an Error naming the host and the fix.
 * `ssh`: the entry's agentConfig/sshConfig/identityFile (or just the agent config path).
 */
export function parseAddress(host: string, address: string, ssh?: string | SshSettings): AgentEndpoint {
  const settings: SshSettings = typeof ssh === 'string' ? { agentConfig: ssh } : (ssh ?? {});
  const { agentConfig } = settings;
  if (address === BROKER_ADDRESS) {
    for (const key of ['agentConfig', 'sshConfig', 'identityFile'] as const) {
      if (settings[key] !== undefined) throw new Error(`host ${host}: ${key} applies to ssh:// addresses only; remove it from this broker host`);
    }
    return { kind: 'broker' };
  }
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new Error(`host ${host}: address "${printable(address)}" is not a URL: use ws://HOST:PORT, wss://HOST:PORT, ssh://[user@]HOST[:PORT] or "broker" (through nixfleet.broker)`);
  }
  if (url.protocol === 'ws:' || url.protocol === 'wss:') {
    if (url.username || url.password) {
      throw new Error(`host ${host}: address must not carry credentials; store the token with "NixFleet: Set Agent Token"`);
    }
    for (const key of ['sshConfig', 'identityFile'] as const) {
      if (settings[key] !== undefined) throw new Error(`host ${host}: ${key} applies to ssh:// addresses only; remove it or use ssh://[user@]HOST[:PORT]`);
    }
    return { kind: 'ws', url: url.toString() };
  }
  if (url.protocol === 'ssh:') {
    if (agentConfig !== undefined && !isSafeRemotePath(agentConfig)) throw new Error(`host ${host}: ${AGENT_CONFIG_RULE}`);
    for (const key of ['sshConfig', 'identityFile'] as const) {
      const v = settings[key];
      if (v !== undefined && !isLocalPath(v)) throw new Error(`host ${host}: ${key} ${LOCAL_FILE_RULE}`);
    }
    const user = decodeURIComponent(url.username);
    const hostname = url.hostname;
    if (user && !SSH_USER_RE.test(user)) throw new Error(`host ${host}: ssh user "${printable(user)}" is not a valid user name`);
    if (!SSH_HOST_RE.test(hostname)) throw new Error(`host ${host}: ssh host "${printable(hostname)}" is not a host name or address`);
    if (url.password) throw new Error(`host ${host}: ssh address must not carry a password; use ssh keys`);
    if ((url.pathname && url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
      throw new Error(`host ${host}: ssh address takes no path: use ssh://[user@]HOST[:PORT] and put the agent config path in agentConfig`);
    }
    const target = (user ? `${user}@` : '') + hostname.replace(/^\[(.*)\]$/, '$1');
    // BatchMode: never prompt inside the extension host, fail with ssh's message instead.
    // ConnectTimeout: a host that is down fails in seconds, not after TCP's ~2 minutes.
    // ServerAlive*: a dead connection is noticed in ~45 s and the client reconnects.
    const argv = ['ssh', '-o', 'BatchMode=yes', '-o', `ConnectTimeout=${SSH_CONNECT_TIMEOUT_S}`, '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=3'];
    if (settings.sshConfig) argv.push('-F', settings.sshConfig);
    if (settings.identityFile) argv.push('-i', settings.identityFile, '-o', 'IdentitiesOnly=yes');
    if (url.port) argv.push('-p', url.port);
    argv.push('--', target, 'nixfleet-agent', 'stdio');
    if (agentConfig) argv.push('--config', agentConfig);
    return { kind: 'command', argv, display: `ssh ${target}${url.port ? ':' + url.port : ''}` };
  }
  throw new Error(`host ${host}: address scheme "${printable(url.protocol)}" is not supported: use ws://, wss://, ssh:// or "broker" (through nixfleet.broker)`);
}

export interface HostConfigResult {
  hosts: HostEntry[];
  /** One message per rejected entry: which one, what is wrong, how to fix it. */
  errors: string[];
}

export function parseHostsSetting(value: unknown): HostConfigResult {
  const hosts: HostEntry[] = [];
  const errors: string[] = [];
  if (value === undefined || value === null) return { hosts, errors };
  if (!Array.isArray(value)) {
    return { hosts, errors: ['nixfleet.hosts must be a list of { name, address, platform } objects'] };
  }
  const seen = new Set<string>();
  value.forEach((raw, i) => {
    const label = raw && typeof raw === 'object' && typeof (raw as { name?: unknown }).name === 'string'
      ? `"${printable((raw as { name: string }).name)}"`
      : `#${i + 1}`;
    const parsed = entrySchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.length ? issue.path.join('.') : 'entry';
      errors.push(`nixfleet.hosts entry ${label}: ${field}: ${issue.message}`);
      return;
    }
    const entry = parsed.data;
    if (seen.has(entry.name)) {
      errors.push(`nixfleet.hosts entry ${label}: host ${entry.name} is listed twice; keep one entry per host`);
      return;
    }
    try {
      parseAddress(entry.name, entry.address, entry);
    } catch (err) {
      errors.push(`nixfleet.hosts entry ${label}: ${(err as Error).message}`);
      return;
    }
    seen.add(entry.name);
    hosts.push(entry);
  });
  return { hosts, errors };
}
