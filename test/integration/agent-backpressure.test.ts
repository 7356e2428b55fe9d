// A client that sends requests but never reads must not make the agent buffer the
// replies: the agent stops reading that client's requests while its unflushed output is
// above the high-water mark, so memory does not grow with the unread volume. Measured
// against baselines taken in this test: the agent's own peak RSS (VmHWM, reset before
// each flood) after a flood of N requests and after one of 4N; the extra 3N replies must
// not show up in the agent's memory. Then the paused client reads again and gets every
// reply: held back, not dropped.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { floodWithoutReading, seedOpHistory, type NonReader } from '../fixtures/nonReader';
import { idle, mib, peakRssBytes, resetPeakRss, rssBytes } from '../fixtures/procMemory';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { RawClient, startAgent, waitFor, type RunningAgent } from './agent-harness';

const MiB = 1024 * 1024;
let bed: TestBed;
let agent: RunningAgent;

before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  seedOpHistory(bed.host('h1').stateDir, 1000);
  agent = await startAgent(bed, 'h1');
});
after(async () => {
  await agent?.stop();
  await bed?.cleanup();
});

describe('backpressure', () => {
  test('a client that sends requests and never reads: agent memory does not grow with the unread volume; its replies are held back, not lost', async () => {
    const pid = agent.proc.pid!;
    // Warm-up: the same work read by a client that reads, so the baseline includes it.
    const reader = await RawClient.open(agent.url, bed.token);
    let replyBytes = 0;
    for (let i = 0; i < 20; i++) {
      const r = await reader.request({ type: 'ops.list', id: `w${i}`, limit: 1000 });
      replyBytes = JSON.stringify(r).length;
    }
    assert.ok(replyBytes > 300_000, `an ops.list reply is only ${replyBytes} bytes: the seeded history is missing`);
    const n = Math.ceil((40 * MiB) / replyBytes);
    const growth: number[] = [];
    const clients: NonReader[] = [];
    for (const count of [n, 4 * n]) {
      await idle(pid);
      const base = rssBytes(pid);
      resetPeakRss(pid);
      const c = await floodWithoutReading(agent.url, bed.token, count);
      clients.push(c);
      await idle(pid);
      growth.push(peakRssBytes(pid) - base);
      // The agent still serves others meanwhile.
      assert.equal((await reader.request({ type: 'status', id: `s${count}` })).type, 'result');
    }
    const [g1, g4] = growth as [number, number];
    const extra = 3 * n * replyBytes;
    const figures = `${n} unread replies (${((n * replyBytes) / MiB).toFixed(0)} MiB): agent peak RSS +${mib(g1)} MiB; ${4 * n} (${((4 * n * replyBytes) / MiB).toFixed(0)} MiB): +${mib(g4)} MiB`;
    process.stderr.write(`backpressure: ${figures}\n`);
    assert.ok(g4 - g1 < extra / 4, `agent memory grows with the unread volume: ${figures}`);
    // Reading again, each client gets every reply it asked for.
    for (const [i, c] of clients.entries()) {
      c.read();
      const want = i === 0 ? n : 4 * n;
      await waitFor(`client ${i + 1} to get its ${want} replies`, () => c.replies() === want, 240_000);
      c.ws.terminate();
    }
    reader.close();
  });
});
