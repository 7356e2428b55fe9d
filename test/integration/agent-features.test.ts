// TLS, slow clients (bounded agent memory, others unaffected), unsubscribe, and magic
// rollback over real agents.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { OutputLine } from '../../protocol';
import { AgentClient } from '../../src/fleet/agentClient';
import { WsTransport } from '../../src/fleet/transportWs';
import { peakRssBytes, resetPeakRss } from '../fixtures/procMemory';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, connect, RawClient, startAgent, waitFor } from './agent-harness';

let bed: TestBed;
before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
});
after(async () => {
  await bed?.cleanup();
});

describe('agent features', () => {
  test('TLS: wss with the agent certificate trusted; an untrusted certificate is refused', async () => {
    const cert = path.join(bed.root, 'agent.crt');
    const key = path.join(bed.root, 'agent.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const agent = await startAgent(bed, 'h1', { overrides: { tlsCert: cert, tlsKey: key } });
    try {
      const url = `wss://127.0.0.1:${agent.port}`;
      const ok = new AgentClient({ transport: () => new WsTransport({ url, token: bed.token, caFile: cert }), clientName: 'tls', reconnect: false });
      assert.equal((await ok.connect()).host, 'h1');
      assert.equal((await ok.status()).host, 'h1');
      ok.close();
      const untrusted = new AgentClient({ transport: () => new WsTransport({ url, token: bed.token }), clientName: 'tls', reconnect: false });
      await assert.rejects(untrusted.connect(), /certificate/i);
      untrusted.close();
      // Refused by its certificate's verify code: final, even for a client that reconnects.
      const retrying = new AgentClient({ transport: () => new WsTransport({ url, token: bed.token }), clientName: 'tls', reconnect: { initialDelayMs: 20 } });
      await assert.rejects(retrying.connect(), /self-signed certificate/i);
      assert.equal(retrying.state.state === 'offline' && retrying.state.fatal, true);
      retrying.close();
    } finally {
      await agent.stop();
    }
  });

  test('a client that stops reading does not grow agent memory; other clients get everything; it resumes with no gap', async () => {
    const agent = await startAgent(bed, 'h1');
    bed.setHook('h1', `seq 1 300000 | sed 's/^/slow client line padding padding padding padding /'\n`);
    const pid = agent.proc.pid!;
    try {
      const fast = connect(agent, bed.token);
      await fast.connect();
      // Baseline: the agent's peak RSS while it streams the same output to a client that reads.
      resetPeakRss(pid);
      await fast.startOp('slow-warm', 'switch', {});
      assert.equal((await fast.follow('slow-warm')).op.state, 'succeeded');
      const baseline = peakRssBytes(pid) / 1024 / 1024;
      const slow = await RawClient.open(agent.url, bed.token);
      await fast.startOp('slow-1', 'switch', {});
      // Stop reading: the kernel buffers fill, then the agent must hold back.
      const sock = (slow.ws as unknown as { _socket: import('node:net').Socket })._socket;
      slow.send({ type: 'op.subscribe', id: 1, op: 'slow-1', fromSeq: 0 });
      await new Promise((r) => setTimeout(r, 50));
      sock.pause();
      resetPeakRss(pid);
      const { op, lines } = await fast.follow('slow-1');
      const peak = peakRssBytes(pid) / 1024 / 1024;
      assert.equal(op.state, 'succeeded', op.error);
      assert.equal(lines.length, op.lastSeq);
      const journalMiB = readFileSync(path.join(bed.host('h1').stateDir, 'ops', 'slow-1', 'journal.jsonl')).length / 1024 / 1024;
      // The stalled client may cost its 4 MiB window plus socket buffers over the baseline;
      // buffering what it did not read would cost the whole journal.
      assert.ok(peak - baseline < journalMiB / 2, `agent peak RSS ${peak.toFixed(1)} MiB while a client did not read ${journalMiB.toFixed(0)} MiB, ${(peak - baseline).toFixed(1)} MiB over the ${baseline.toFixed(1)} MiB of the same op followed by a reading client`);
      const before = slow.frames.filter((m) => m.type === 'op.output').flatMap((m) => m.lines as OutputLine[]).length;
      assert.ok(before < op.lastSeq / 2, `the paused client already had ${before} of ${op.lastSeq} lines: it was not held back`);
      sock.resume();
      const end = await slow.next((m) => m.type === 'op.end', 120_000);
      const got = slow.frames.filter((m) => m.type === 'op.output').flatMap((m) => m.lines as OutputLine[]);
      assert.equal(got.length, (end.op as { lastSeq: number }).lastSeq);
      got.forEach((l, i) => assert.equal(l.seq, i + 1));
      slow.close();
      fast.close();
    } finally {
      bed.setHook('h1', null);
      await agent.stop();
    }
  });

  test('op.unsubscribe stops the output of that op', async () => {
    const agent = await startAgent(bed, 'h1');
    bed.setHook('h1', 'i=1; while [ $i -le 40 ]; do echo "tick $i"; i=$((i+1)); sleep 0.05; done\n');
    try {
      const c = await RawClient.open(agent.url, bed.token);
      await c.request({ type: 'op.start', id: 1, op: 'unsub-1', kind: 'switch', params: {} });
      await c.request({ type: 'op.subscribe', id: 2, op: 'unsub-1', fromSeq: 0 });
      await c.next((m) => m.type === 'op.output' && (m.lines as OutputLine[]).some((l) => l.text.startsWith('tick')), 30_000);
      assert.equal((await c.request({ type: 'op.unsubscribe', id: 3, op: 'unsub-1' })).type, 'result');
      const count = c.frames.filter((m) => m.type === 'op.output').length;
      const watcher = connect(agent, bed.token);
      await watcher.connect();
      assert.equal((await watcher.follow('unsub-1')).op.state, 'succeeded');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(c.frames.filter((m) => m.type === 'op.output').length, count, 'no output after unsubscribe');
      assert.equal(c.frames.some((m) => m.type === 'op.end'), false);
      watcher.close();
      c.close();
    } finally {
      bed.setHook('h1', null);
      await agent.stop();
    }
  });

  test('an op started by the CLI beside a running agent is announced (op.state), followable, and ends with a host.status push', async () => {
    const agent = await startAgent(bed, 'h1');
    bed.setHook('h1', 'sleep 1\n');
    try {
      const c = connect(agent, bed.token);
      await c.connect();
      const started: string[] = [];
      const statuses: number[] = [];
      c.onOpState.on((o) => started.push(o.id));
      c.onHostStatus.on(() => statuses.push(Date.now()));
      const cliRun = spawn(process.execPath, [AGENT_JS, 'switch', '--config', agent.config, '--op-id', 'from-cli'], { env: bed.env, stdio: 'ignore' });
      const cliExit = new Promise<number | null>((r) => cliRun.once('exit', r));
      await waitFor('op.state for the CLI op', () => started.includes('from-cli'), 30_000);
      const { op } = await c.follow('from-cli');
      assert.equal(op.state, 'succeeded', op.error);
      assert.equal(op.client.auth.startsWith('cli:'), true);
      await waitFor('host.status push', () => statuses.length > 0, 10_000);
      assert.equal(await cliExit, 0);
      c.close();
    } finally {
      bed.setHook('h1', null);
      await agent.stop();
    }
  });

  test('magic rollback: no confirmation → back on the previous generation; confirmed over a new connection → stays', async () => {
    const agent = await startAgent(bed, 'h1', { overrides: { confirmTimeout: 3 } });
    try {
      const c = connect(agent, bed.token);
      await c.connect();
      await c.startOp('mr-base', 'switch', {});
      assert.equal((await c.follow('mr-base')).op.state, 'succeeded');
      const before = (await c.status()).currentGeneration!;

      const rev = await bed.setVersion('h1', '24.05.77');
      await c.startOp('mr-pull', 'pull', {});
      assert.equal((await c.follow('mr-pull')).op.state, 'succeeded');
      await c.startOp('mr-1', 'switch', { rev }, true);
      const { op } = await c.follow('mr-1');
      assert.equal(op.state, 'failed');
      assert.match(op.error ?? '', /rolled back automatically: no confirmation within 3 s/);
      assert.equal(op.result?.rolledBack, true);
      assert.equal((await c.status()).currentGeneration, before);

      await c.startOp('mr-2', 'switch', { rev }, true);
      const states: string[] = [];
      await waitFor('confirm deadline', async () => (await c.listOps(5)).find((o) => o.id === 'mr-2')?.confirmDeadline, 60_000);
      // The connection that started the op is older than the activation: refused.
      await assert.rejects(c.confirmOp('mr-2'), /new connection opened after the activation/);
      const fresh = connect(agent, bed.token);
      await fresh.connect();
      states.push((await fresh.confirmOp('mr-2')).state);
      const done = await c.follow('mr-2');
      assert.equal(done.op.state, 'succeeded', done.op.error);
      assert.notEqual((await c.status()).currentGeneration, before);
      fresh.close();
      c.close();
    } finally {
      await agent.stop();
    }
  });
});
