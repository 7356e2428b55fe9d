// The fleet's AgentSession on top of the protocol client (agentClient.ts) and its
// transports: ws/wss with the bearer token, or a command (ssh … nixfleet-agent stdio).
import type { OpInfo } from '../../protocol';
import { AgentClient } from './agentClient';
import type { AgentEndpoint, HostEntry } from './hostConfig';
import type { AgentSession, OpEvent, SessionState, StartOpRequest } from './session';
import { CommandTransport } from './transportCommand';
import { WsTransport } from './transportWs';
import { Emitter } from './emitter';
import type { TransportFactory } from './transport';

export interface OpenSessionOptions {
  entry: HostEntry;
  /** How to reach the agent; not used when `transport` is given. */
  endpoint?: AgentEndpoint;
  token: string | undefined;
  clientName: string;
  clientVersion: string;
  requestTimeoutMs?: number;
  /** What the user does after fixing a fatal failure (default: `Refresh HOST`, the extension's command). */
  retryAdvice?: string;
  /** What the user does when the agent refused the token (default: the extension's Set Agent Token). */
  tokenAdvice?: string;
  /** Another way to reach the agent than `endpoint` (the broker's BrokerTransport). */
  transport?: TransportFactory;
}

export function openAgentSession(o: OpenSessionOptions): AgentSession {
  const client = new AgentClient({
    clientName: o.clientName,
    clientVersion: o.clientVersion,
    requestTimeoutMs: o.requestTimeoutMs ?? 30_000,
    reconnect: { initialDelayMs: 500, maxDelayMs: 15_000 },
    transport: o.transport ?? endpointTransport(o.entry.name, o.endpoint, o.token),
  });
  return new ClientSession(o.entry.name, client, {
    retry: o.retryAdvice ?? `Refresh ${o.entry.name}`,
    // Storing the token reconnects the host: no Refresh needed after it.
    unauthorized: o.tokenAdvice ?? `store the right token with "NixFleet: Set Agent Token" (${o.entry.name} reconnects with it)`,
  });
}

function endpointTransport(host: string, endpoint: AgentEndpoint | undefined, token: string | undefined): TransportFactory {
  if (!endpoint) throw new Error(`host ${host}: no address to reach its agent at`);
  switch (endpoint.kind) {
    case 'ws':
      return () => new WsTransport({ url: endpoint.url, token });
    case 'command':
      return () => new CommandTransport({ argv: endpoint.argv });
    case 'broker':
      // The broker's transport comes with the broker connection (src/broker/discoverySource.ts).
      throw new Error(`host ${host} is reached through the broker, and no broker connection was given: set nixfleet.broker`);
  }
}

class ClientSession implements AgentSession {
  private readonly stateEmitter = new Emitter<SessionState>();
  private readonly statusEmitter = new Emitter<import('../../protocol').HostStatus>();
  private readonly opEmitter = new Emitter<OpEvent>();
  private current: SessionState = { state: 'connecting' };

  constructor(
    readonly host: string,
    private readonly client: AgentClient,
    private readonly advice: { retry: string; unauthorized: string },
  ) {
    client.onState.on((s) => {
      this.current =
        s.state === 'online' ? { state: 'online', welcome: s.welcome }
          : s.state === 'offline' ? { state: 'offline', reason: offlineReason(s.reason, s.fatal, s.code === 'unauthorized' ? this.advice.unauthorized : `fix it, then ${this.advice.retry}`), fatal: s.fatal, ...(s.code ? { code: s.code } : {}) }
            : { state: 'connecting' };
      this.stateEmitter.fire(this.current);
    });
    client.onHostStatus.on((s) => this.statusEmitter.fire(s));
    client.onOutput.on(({ op, lines }) => this.opEmitter.fire({ type: 'op.output', op, lines }));
    client.onOpState.on((op) => this.opEmitter.fire({ type: 'op.state', op }));
    client.onOpEnd.on((op) => this.opEmitter.fire({ type: 'op.end', op }));
    // A welcome for another host means the address points at the wrong agent: refuse it.
    client.onWelcome.on((w) => {
      if (w.host !== host) {
        this.current = { state: 'offline', reason: `the agent at this address is host ${w.host}, not ${host}: fix the address in nixfleet.hosts`, fatal: true };
        this.stateEmitter.fire(this.current);
        client.close();
      }
    });
    client.connect().catch(() => {
      // Reported through the 'state' event; the client keeps retrying unless it is fatal.
    });
  }

  get state(): SessionState {
    return this.current;
  }

  onState(l: (s: SessionState) => void) {
    return this.stateEmitter.on(l);
  }
  onHostStatus(l: (s: import('../../protocol').HostStatus) => void) {
    return this.statusEmitter.on(l);
  }
  onOpEvent(l: (e: OpEvent) => void) {
    return this.opEmitter.on(l);
  }
  status() {
    return this.client.status();
  }
  generations() {
    return this.client.generations();
  }
  startOp(req: StartOpRequest) {
    return this.client.startOp(req.op, req.kind, req.params, req.magicRollback);
  }
  cancelOp(op: string): Promise<OpInfo> {
    return this.client.cancelOp(op);
  }
  confirmOp(op: string): Promise<OpInfo> {
    return this.client.confirmOp(op);
  }
  subscribeOp(op: string, fromSeq: number): Promise<OpInfo> {
    return this.client.subscribe(op, fromSeq);
  }
  listOps(limit?: number): Promise<OpInfo[]> {
    return this.client.listOps(limit);
  }
  close(): void {
    this.client.close();
    this.stateEmitter.clear();
    this.statusEmitter.clear();
    this.opEmitter.clear();
  }
}

function offlineReason(reason: string, fatal: boolean, advice: string): string {
  if (reason === 'closed by the client') return reason;
  return fatal ? `${reason} (not retrying: ${advice})` : reason;
}
