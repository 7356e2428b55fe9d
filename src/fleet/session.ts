// What the fleet needs from a connection to one agent. `agentSession.ts` provides it on top
// of the protocol client (agentClient.ts); tests may provide it over a real agent too.
import type { ErrorCode, Generation, HostStatus, OpInfo, OpKind, OutputLine, WelcomeMessage } from '../../protocol';

export type SessionState =
  | { state: 'connecting' }
  | { state: 'online'; welcome: WelcomeMessage }
  /** `fatal`: the session gave up (retrying cannot help); otherwise it keeps reconnecting. `code`: the agent refused the token. */
  | { state: 'offline'; reason: string; fatal?: boolean; code?: 'unauthorized' };

export type OpEvent =
  | { type: 'op.output'; op: string; lines: OutputLine[] }
  | { type: 'op.state' | 'op.end'; op: OpInfo };

export interface StartOpRequest {
  op: string;
  kind: OpKind;
  params: Record<string, unknown>;
  magicRollback?: boolean;
}

export interface AgentSession {
  readonly host: string;
  /** Current state; the session reconnects by itself with backoff until closed. */
  readonly state: SessionState;
  onState(listener: (s: SessionState) => void): () => void;
  onHostStatus(listener: (s: HostStatus) => void): () => void;
  onOpEvent(listener: (e: OpEvent) => void): () => void;
  status(): Promise<HostStatus>;
  generations(): Promise<Generation[]>;
  startOp(req: StartOpRequest): Promise<{ op: OpInfo; existing: boolean }>;
  cancelOp(op: string): Promise<OpInfo>;
  confirmOp(op: string): Promise<OpInfo>;
  /** Replays journal lines with seq > fromSeq as op.output events, then streams live. */
  subscribeOp(op: string, fromSeq: number): Promise<OpInfo>;
  listOps(limit?: number): Promise<OpInfo[]>;
  close(): void;
}

/**
 * Why a request failed, for callers to dispatch on: the agent's protocol error code, or what
 * the client itself saw (not connected, no answer in time, closed by us, given up offline).
 */
export type AgentErrorCode = ErrorCode | 'disconnected' | 'timeout' | 'closed' | 'offline';

/** A request failure from the agent, with its code when it has one. */
export class AgentRequestError extends Error {
  override name = 'AgentRequestError';
  constructor(
    message: string,
    readonly code?: AgentErrorCode,
    /** The host whose agent answered so, when the thrower knows it (a fix names it). */
    readonly host?: string,
  ) {
    super(message);
  }
}

/** The session's first state (the current one included) for which `done` holds, or its state after `waitMs`. */
export function waitForState(s: AgentSession, done: (x: SessionState) => boolean, waitMs: number): Promise<SessionState> {
  if (done(s.state)) return Promise.resolve(s.state);
  return new Promise((resolve) => {
    const timer = setTimeout(() => (off(), resolve(s.state)), waitMs);
    const off = s.onState((x) => {
      if (!done(x)) return;
      clearTimeout(timer);
      off();
      resolve(x);
    });
  });
}

/** The session's first state other than 'connecting', or its state after `waitMs`. */
export function waitSettled(s: AgentSession, waitMs: number): Promise<SessionState> {
  return waitForState(s, (x) => x.state !== 'connecting', waitMs);
}
