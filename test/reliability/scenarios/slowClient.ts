// Slow client: while an op streams a journal far larger than the memory bound, one
// subscriber stops reading (its TCP socket paused after the first output frame). The
// agent's peak RSS over the op must stay within a bound well below the journal's size
// above the baseline: its peak while the same output streamed to a client that reads
// (the setup op), taken in the same run, so a busy machine's GC does not count; another client meanwhile follows the same op in full (its copy equals
// the journal) and gets status answers promptly. Finally the slow reader resumes and
// must get every line too: pausing costs the agent disk reads, never memory or lines.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import type { OutputLine } from '../../../protocol';
import { createTestBed } from '../../fixtures/testbed';
import { peakRssBytes, resetPeakRss } from '../../fixtures/procMemory';
import { Tally, check, journalPath, killWorkers, sleep, startAgent, stopAllAgents, within, type Scenario } from '../lib';

const MiB = 1024 * 1024;
/** Growth of the agent's peak RSS over the baseline (the same output read by a client that reads) that counts as bounded. */
const RSS_BOUND = 64 * MiB;

/** A WebSocket follower that hashes the lines of one op in order (memory-light for millions of lines). */
class Follower {
  readonly hash = createHash('sha256');
  count = 0;
  lastSeq = 0;
  gaps = 0;
  ended = false;
  firstOutput: Promise<void>;
  private onFirst!: () => void;
  private pending = new Map<string, { t: number; resolve: (ms: number) => void }>();
  constructor(readonly ws: WebSocket, readonly op: string) {
    this.firstOutput = new Promise((r) => (this.onFirst = r));
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; id?: string; op?: unknown; lines?: OutputLine[] };
      if (m.type === 'op.output' && m.op === op) {
        for (const l of m.lines!) {
          if (l.seq !== this.lastSeq + 1) this.gaps++;
          this.lastSeq = l.seq;
          this.count++;
          this.hash.update(JSON.stringify(l) + '\n');
        }
        this.onFirst();
      } else if (m.type === 'op.end' && (m.op as { id: string }).id === op) this.ended = true;
      else if (m.type === 'result' && typeof m.id === 'string' && this.pending.has(m.id)) {
        const p = this.pending.get(m.id)!;
        this.pending.delete(m.id);
        p.resolve(Date.now() - p.t);
      }
    });
  }
  static async open(url: string, token: string, op: string): Promise<Follower> {
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, maxPayload: 64 * MiB });
    await once(ws, 'open');
    const f = new Follower(ws, op);
    ws.send(JSON.stringify({ type: 'hello', protocol: 1, client: { name: 'slow-client-test', version: '1' } }));
    return f;
  }
  request(msg: Record<string, unknown>): Promise<number> {
    const id = `r${Math.random().toString(36).slice(2)}`;
    return new Promise((resolve) => {
      this.pending.set(id, { t: Date.now(), resolve });
      this.ws.send(JSON.stringify({ ...msg, id }));
    });
  }
}

async function journalDigest(file: string): Promise<{ hash: string; count: number }> {
  const hash = createHash('sha256');
  let count = 0;
  for await (const line of createInterface({ input: createReadStream(file) })) {
    if (!line) continue;
    hash.update(line + '\n');
    count++;
  }
  return { hash: hash.digest('hex'), count };
}

export const slowClientScenario: Scenario = {
  name: 'slow-client',
  async run(ctx) {
    const trials = ctx.quick ? 1 : 3;
    // Long lines: the journal's size matters for the bound, the line count only costs CPU.
    const lines = ctx.quick ? 120_000 : 250_000;
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    const tally = new Tally(ctx);
    const pad = 'x'.repeat(1000);
    const agent = await startAgent(bed, 'h1', {
      overrides: { healthChecks: [['/bin/sh', '-c', `seq 1 ${lines} | sed 's/^/slow client line ${pad} /'`]], healthCheckTimeout: 600 },
    });
    const figures: string[] = [];
    try {
      // One switch so there is a generation to test; its health check prints the same
      // output, followed by a client that reads: the memory baseline.
      resetPeakRss(agent.proc.pid!);
      const setup = await Follower.open(agent.url, bed.token, 'slow-setup');
      await setup.request({ type: 'op.start', op: 'slow-setup', kind: 'switch', params: {} });
      await setup.request({ type: 'op.subscribe', op: 'slow-setup', fromSeq: 0 });
      await within('setup switch', 60_000, (async () => { while (!setup.ended) await sleep(50); })());
      setup.ws.terminate();
      const baseline = peakRssBytes(agent.proc.pid!);
      for (let i = 0; i < trials; i++) {
        await tally.trial(`trial ${i + 1} (${lines} lines)`, async () => {
          const opId = `slow-${i}`;
          const fast = await Follower.open(agent.url, bed.token, opId);
          const slow = await Follower.open(agent.url, bed.token, opId);
          // Status probes on a connection of their own, so they never queue behind output.
          const probe = await Follower.open(agent.url, bed.token, opId);
          await fast.request({ type: 'op.start', op: opId, kind: 'test', params: {} });
          await slow.request({ type: 'op.subscribe', op: opId, fromSeq: 0 });
          await within('first output at the slow client', 30_000, slow.firstOutput);
          // Stop reading: the kernel buffers fill, then the agent sees back-pressure.
          (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
          await fast.request({ type: 'op.subscribe', op: opId, fromSeq: 0 });
          resetPeakRss(agent.proc.pid!);
          const latencies: number[] = [];
          const prober = (async () => {
            while (!fast.ended) {
              latencies.push(await probe.request({ type: 'status' }));
              await sleep(100);
            }
          })();
          await within('the fast client reaching op.end', 600_000, (async () => { while (!fast.ended) await sleep(100); })());
          await prober;
          // Keep sampling while the slow client is still stalled.
          await sleep(1000);
          const peak = peakRssBytes(agent.proc.pid!);
          const slowBeforeResume = slow.count;
          (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
          await within('the slow client catching up', 300_000, (async () => { while (!slow.ended) await sleep(100); })());
          const journal = await journalDigest(journalPath(h.stateDir, opId));
          const size = statSync(journalPath(h.stateDir, opId)).size;
          fast.ws.terminate();
          slow.ws.terminate();
          probe.ws.terminate();
          latencies.sort((a, b) => a - b);
          const p50 = latencies[Math.floor(latencies.length / 2)] ?? 0;
          const max = latencies.at(-1) ?? 0;
          const growth = peak - baseline;
          figures.push(
            `journal ${(size / MiB).toFixed(0)} MiB; agent peak RSS ${(baseline / MiB).toFixed(0)} MiB with a reading client → ${(peak / MiB).toFixed(0)} MiB with a stalled one (${growth >= 0 ? '+' : ''}${(growth / MiB).toFixed(1)} MiB); ` +
              `slow client had ${slowBeforeResume} lines while stalled; status p50 ${p50} ms, max ${max} ms over ${latencies.length} requests`,
          );
          check(size > 1.5 * RSS_BOUND, `the journal (${(size / MiB).toFixed(0)} MiB) is too small to test the bound`);
          check(growth < RSS_BOUND, `agent peak RSS ${(growth / MiB).toFixed(1)} MiB above the same op read by a reading client (bound ${RSS_BOUND / MiB} MiB)`);
          check(slowBeforeResume < journal.count / 2, `the "stalled" client received ${slowBeforeResume} of ${journal.count} lines: it was not stalled`);
          check(fast.gaps === 0 && fast.count === journal.count && fast.hash.digest('hex') === journal.hash, `the fast client's copy differs from the journal (${fast.count}/${journal.count} lines, ${fast.gaps} gaps)`);
          check(slow.gaps === 0 && slow.count === journal.count && slow.hash.digest('hex') === journal.hash, `the slow client's copy differs from the journal (${slow.count}/${journal.count} lines, ${slow.gaps} gaps)`);
          check(latencies.length >= 3, 'too few status probes');
          check(max < 2000, `a status request took ${max} ms while the slow client stalled`);
        });
      }
    } finally {
      await stopAllAgents();
      killWorkers(h.stateDir);
      await bed.cleanup();
    }
    return tally.outcome(figures.join(' | '));
  },
};
