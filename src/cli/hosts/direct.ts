// Hosts reached directly, as the extension reaches them: ws:// or wss:// with the host's
// bearer token, or ssh:// running `nixfleet-agent stdio` with the user's own ssh setup.
import { userInfo, hostname } from 'node:os';
import { clientNameOf } from '../../../protocol';
import { AGENT_VERSION } from '../../../agent/version';
import { openAgentSession } from '../../fleet/agentSession';
import { parseAddress, type HostEntry } from '../../fleet/hostConfig';
import type { AgentSession } from '../../fleet/session';
import type { HostSource, SourceHost } from './source';
import type { TokenStore } from './tokens';

/** How the CLI introduces itself to agents (shown in their audit logs). */
export function cliClientName(): string {
  let user = process.env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry (containers): keep $USER */
  }
  return clientNameOf(`nixfleet CLI ${user}@${hostname()}`);
}

export class DirectHostSource implements HostSource {
  private readonly entries: Map<string, HostEntry>;

  constructor(
    private readonly file: string,
    entries: readonly HostEntry[],
    private readonly tokens: TokenStore,
    private readonly requestTimeoutMs = 60_000,
  ) {
    this.entries = new Map([...entries].sort((a, b) => a.name.localeCompare(b.name)).map((e) => [e.name, e]));
  }

  get description(): string {
    return `hosts file ${this.file}`;
  }

  hosts(): SourceHost[] {
    return [...this.entries.values()].map((e) => ({ name: e.name, platform: e.platform, address: e.address, ...(e.tags?.length ? { tags: [...e.tags] } : {}) }));
  }

  private entry(host: string): HostEntry {
    const e = this.entries.get(host);
    if (!e) throw new Error(`host ${host} is not in ${this.description}; add it there, or pick one of: ${[...this.entries.keys()].join(', ')}`);
    return e;
  }

  checkCanOperate(host: string): void {
    const e = this.entry(host);
    // ssh:// logs in with the user's ssh keys; ws(s):// needs the host's token.
    if (parseAddress(e.name, e.address, e).kind === 'ws' && this.tokens.get(host) === undefined) {
      throw new Error(`no token for host ${host} (${e.address}): ${this.tokens.advice(host)}`);
    }
  }

  open(host: string): AgentSession {
    const entry = this.entry(host);
    return openAgentSession({
      entry,
      endpoint: parseAddress(entry.name, entry.address, entry),
      token: this.tokens.get(host),
      clientName: cliClientName(),
      clientVersion: AGENT_VERSION.slice(0, 64),
      requestTimeoutMs: this.requestTimeoutMs,
      retryAdvice: 'run the command again',
      tokenAdvice: `${this.tokens.advice(host)} with the token in the agent's token file, then run the command again`,
    });
  }
}
