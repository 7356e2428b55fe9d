// One live session per host for the length of a command, opened on first use. A host that
// does not come online within the wait fails the command with the reason and what to do.
import { waitForState, waitSettled, type AgentSession, type SessionState } from '../../fleet/session';
import type { HostSource } from './source';

export class Connections {
  private readonly sessions = new Map<string, AgentSession>();
  private readonly extra = new Set<AgentSession>();

  constructor(
    readonly source: HostSource,
    private readonly connectWaitMs = 15_000,
  ) {}

  /**
   * The host's session once it is online; throws one sentence when it is not. A new session
   * gets one connection attempt (a host that is down fails at once). A session that was
   * online and dropped (the agent restarting, say) gets the wait to come back through its
   * own reconnects, and stays the same object, so ops followed on it keep their place.
   */
  async online(host: string): Promise<AgentSession> {
    let session = this.sessions.get(host);
    // A session that gave up (fatal) is not reused: this call starts afresh.
    if (session && session.state.state === 'offline' && session.state.fatal) {
      session.close();
      this.sessions.delete(host);
      session = undefined;
    }
    const known = session !== undefined;
    // A source that knows the host is offline (the broker's status bucket) fails at once.
    const recorded = known ? undefined : this.source.hosts().find((h) => h.name === host)?.recorded;
    if (recorded && !recorded.online) throw new HostOfflineError(host, recorded.error ?? `host ${host} is offline; check that its agent runs, then run the command again`);
    if (!session) {
      session = this.source.open(host);
      this.sessions.set(host, session);
    }
    const s = session;
    const state = s.state.state === 'online' ? s.state : known ? await waitOnline(s, this.connectWaitMs) : await waitSettled(s, this.connectWaitMs);
    if (state.state === 'online') return s;
    const address = this.source.hosts().find((h) => h.name === host)?.address ?? host;
    const reason = state.state === 'offline' ? state.reason : `no answer within ${Math.round(this.connectWaitMs / 1000)} s`;
    throw new HostOfflineError(host, `host ${host} is offline (${reason}); check that its agent runs and is reachable at ${address}, then run the command again`);
  }

  /** A session of its own (magic rollback confirms over a new connection); closed by its user. */
  fresh(host: string): AgentSession {
    const s = this.source.open(host);
    this.extra.add(s);
    return s;
  }

  closeAll(): void {
    for (const s of [...this.sessions.values(), ...this.extra]) s.close();
    this.sessions.clear();
    this.extra.clear();
  }
}

export class HostOfflineError extends Error {
  override name = 'HostOfflineError';
  constructor(
    readonly host: string,
    message: string,
  ) {
    super(message);
  }
}


/** Online, or offline for good (fatal), or the state after `waitMs`: whichever comes first. */
function waitOnline(s: AgentSession, waitMs: number): Promise<SessionState> {
  return waitForState(s, (x) => x.state === 'online' || (x.state === 'offline' && x.fatal === true), waitMs);
}
