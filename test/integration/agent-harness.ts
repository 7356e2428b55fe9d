// Shared by the agent-*.test.ts files: real `node dist/agent.js` processes on loopback
// ports over the real-Nix test bed, and protocol clients connected to them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import type { TestBed } from '../fixtures/testbed';
import type { OpKind } from '../../protocol';
import { AgentClient } from '../../src/fleet/agentClient';
import { WsTransport } from '../../src/fleet/transportWs';

export const ROOT = process.env.NIXFLEET_REPO_ROOT ?? path.resolve(import.meta.dirname, '../..');
export const AGENT_JS = path.join(ROOT, 'dist/agent.js');

export interface RunningAgent {
  proc: ChildProcess;
  port: number;
  url: string;
  config: string;
  /** stderr collected so far (for failure messages). */
  stderr(): string;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** kill -9 and wait. */
  kill9(): Promise<void>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  overrides?: Record<string, unknown>;
  port?: number;
  agentJs?: string;
  env?: Record<string, string>;
  /** Extra CLI flags after the config. */
  flags?: string[];
}

/** Start `serve` for a bed host on 127.0.0.1 (a free port unless given) and wait until it listens. */
export async function startAgent(bed: TestBed, host: string, opts: StartOptions = {}): Promise<RunningAgent> {
  const config = bed.writeConfig(host, opts.overrides);
  const proc = spawn(
    process.execPath,
    [opts.agentJs ?? AGENT_JS, 'serve', '--config', config, '--listen', `127.0.0.1:${opts.port ?? 0}`, '--json', ...(opts.flags ?? [])],
    { env: { ...bed.env, ...(opts.env ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const rl = createInterface({ input: proc.stdout! });
  const first = await Promise.race([
    once(rl, 'line').then(([l]) => l as string),
    exited.then((code) => {
      throw new Error(`agent exited with ${code} before listening: ${err}`);
    }),
    new Promise<string>((_, reject) => setTimeout(() => reject(new Error(`agent did not listen within 15 s: ${err}`)), 15_000)),
  ]);
  const { listening } = JSON.parse(first) as { listening: string };
  const port = Number(listening.slice(listening.lastIndexOf(':') + 1));
  const kill = async (sig: NodeJS.Signals) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(sig);
    await exited;
  };
  return { proc, port, url: `ws://127.0.0.1:${port}`, config, stderr: () => err, stop: () => kill('SIGTERM'), kill9: () => kill('SIGKILL'), exited };
}

/** The answer to a WebSocket upgrade with these headers: 101 when accepted, else the HTTP status and body. */
export function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => {
      ws.terminate();
      resolve({ status: 101, body: '' });
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('error', reject);
  });
}

/** Authorization header with a bearer token (none for `undefined`). */
export const bearer = (token: string | undefined): Record<string, string> => (token === undefined ? {} : { Authorization: `Bearer ${token}` });

export function connect(agent: { url: string }, token: string | undefined, opts: { reconnect?: false | { initialDelayMs?: number; maxDelayMs?: number } } = {}): AgentClient {
  return new AgentClient({
    transport: () => new WsTransport({ url: agent.url, token }),
    clientName: 'agent-test',
    clientVersion: '1',
    requestTimeoutMs: 20_000,
    reconnect: opts.reconnect ?? { initialDelayMs: 50, maxDelayMs: 400 },
  });
}

/** Start op `opId` (a switch unless told) through a client of its own, and follow it to its end. */
export async function runOpOnce(agent: { url: string }, token: string | undefined, opId: string, kind: OpKind = 'switch', params: Record<string, unknown> = {}) {
  const c = connect(agent, token);
  try {
    await c.connect();
    await c.startOp(opId, kind, params);
    return await c.follow(opId);
  } finally {
    c.close();
  }
}

/** A bare WebSocket that records every frame, for protocol-level tests. */
export class RawClient {
  readonly frames: Record<string, unknown>[] = [];
  private waiters: { pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] = [];
  closed: { code: number; reason: string } | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as Record<string, unknown>;
      this.frames.push(m);
      this.waiters = this.waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true));
    });
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
  }

  static async open(url: string, token?: string, hello = true): Promise<RawClient> {
    const ws = new WebSocket(url, { headers: token ? { Authorization: `Bearer ${token}` } : {}, maxPayload: 64 * 1024 * 1024 });
    await once(ws, 'open');
    const c = new RawClient(ws);
    if (hello) {
      c.send({ type: 'hello', protocol: 1, client: { name: 'raw-test', version: '1' } });
      await c.next((m) => m.type === 'welcome');
    }
    return c;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  next(pred: (m: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const seen = this.frames.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(-3))}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (m) => (clearTimeout(t), resolve(m)) });
    });
  }

  /** Send a request and wait for its result or error. */
  async request(msg: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.send(msg);
    return this.next((m) => (m.type === 'result' || m.type === 'error') && m.id === msg.id);
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Run the agent CLI synchronously. */
export function cli(bed: TestBed, args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [AGENT_JS, ...args], { env: { ...bed.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
