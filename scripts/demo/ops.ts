// Talking to a demo agent the way the extension does: src/fleet/agentClient.ts over
// WebSocket with the host's bearer token, reconnecting (an agent restarts when Update Agent
// or a rollback activates a system with another agent package; ops are followed across it).
import { AgentClient } from '../../src/fleet/agentClient';
import { WsTransport } from '../../src/fleet/transportWs';
import type { OpInfo, OpKind, OutputLine } from '../../protocol';

export interface AgentAddress {
  name: string;
  address: string;
  token: string;
}

export function client(h: AgentAddress, token = h.token): AgentClient {
  return new AgentClient({
    transport: () => new WsTransport({ url: h.address, token, connectTimeoutMs: 5000 }),
    clientName: 'nixfleet-demo',
    // Bounded: about 20 s of attempts covers an agent restart on a busy machine.
    reconnect: token === h.token ? { initialDelayMs: 50, maxDelayMs: 500, maxAttempts: 60 } : false,
    requestTimeoutMs: 60_000,
  });
}

/** An op id like the extension's: kind, host, time, random. */
export function demoOpId(kind: OpKind, host: string): string {
  return `demo-${kind}-${host.replace(/[^A-Za-z0-9_-]/g, '-')}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

export interface OpRun {
  op: OpInfo;
  state: OpInfo['state'];
  error?: string;
  lines: number;
  output: OutputLine[];
}

/** Start an op and follow it to its end (across agent restarts): its final record and every line. */
export async function runOp(c: AgentClient, h: AgentAddress, kind: OpKind, params: Record<string, unknown>, id = demoOpId(kind, h.name)): Promise<OpRun> {
  await c.startOp(id, kind, params);
  const { op, lines } = await c.follow(id);
  return { op, state: op.state, error: op.error, lines: lines.length, output: lines };
}
