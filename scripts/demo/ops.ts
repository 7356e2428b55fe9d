// Talking to a demo agent the way the extension does: src/fleet/agentClient.ts over
// WebSocket with the host's bearer token.
import { AgentClient } from '../../src/fleet/agentClient';
import { WsTransport } from '../../src/fleet/transportWs';
import type { OpKind } from '../../protocol';

export interface AgentAddress {
  name: string;
  address: string;
  token: string;
}

export function client(h: AgentAddress, token = h.token): AgentClient {
  return new AgentClient({
    transport: () => new WsTransport({ url: h.address, token, connectTimeoutMs: 5000 }),
    clientName: 'nixfleet-demo',
    reconnect: false,
    requestTimeoutMs: 60_000,
  });
}

/** Start an op and follow it to its end; returns its final state and how many lines streamed. */
export async function runOp(c: AgentClient, h: AgentAddress, kind: OpKind, params: Record<string, unknown>): Promise<{ state: string; error?: string; lines: number }> {
  const id = `demo-${kind}-${h.name.replace(/[^A-Za-z0-9_-]/g, '-')}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  await c.startOp(id, kind, params);
  const { op, lines } = await c.follow(id);
  return { state: op.state, error: op.error, lines: lines.length };
}
