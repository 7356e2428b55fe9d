// Streaming 1,000,000 journal lines agent → client over WebSocket on loopback, against a
// raw TCP pipe carrying the same bytes (the journal file) from another process, side by
// side. Goal ≥ 0.5× the raw pipe's throughput, 0 lines lost, client memory bounded.
// The op's output is produced first (a switch whose activation prints the lines); then
// the timed runs replay it: a fresh subscription from seq 0 until op.end.
// Three comparisons, each against the same bytes over a raw TCP socket:
//   stream-1m-lines      AgentClient (lines parsed into objects, seq order checked) vs a
//                        raw-pipe client that also JSON-parses every line: the goal line
//   stream-1m-transport  WebSocket frames counted, not parsed, vs the raw pipe counted
//   stream-1m-vs-bare-pipe  AgentClient vs the raw pipe that only counts newlines
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { createTestBed } from '../test/fixtures/testbed';
import { connect, startAgent } from '../test/integration/agent-harness';

const LINES = Number(process.env.NIXFLEET_BENCH_LINES ?? 1_000_000);
const ROUNDS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Peak RSS of this (client) process while `fn` runs. */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peak: number }> {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  try {
    const value = await fn();
    return { value, peak: Math.max(peak, process.memoryUsage().rss) };
  } finally {
    clearInterval(t);
  }
}

async function rawTcp(file: string, parse: boolean): Promise<{ ms: number; lines: number }> {
  // The sender is its own process, as the agent is.
  const server = spawn(
    process.execPath,
    ['-e', `const net=require('net'),fs=require('fs');const s=net.createServer(c=>fs.createReadStream(process.argv[1],{highWaterMark:256*1024}).pipe(c)).listen(0,'127.0.0.1',()=>console.log(s.address().port))`, file],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = Number(await new Promise<string>((r) => createInterface({ input: server.stdout! }).once('line', r)));
  try {
    const t0 = performance.now();
    let lines = 0;
    let partial = '';
    let next = 1;
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.on('data', (b: Buffer) => {
        if (!parse) {
          for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) lines++;
          return;
        }
        const parts = (partial + b.toString('utf8')).split('\n');
        partial = parts.pop()!;
        for (const p of parts) {
          const l = JSON.parse(p) as { seq: number };
          if (l.seq !== next) throw new Error(`raw pipe: seq ${l.seq} after ${next - 1}`);
          next++;
          lines++;
        }
      });
      sock.on('end', resolve);
      sock.on('error', reject);
    });
    return { ms: performance.now() - t0, lines };
  } finally {
    server.kill();
  }
}

/** Subscribe with a bare WebSocket and time until op.end, counting bytes only. */
async function wsTransportOnly(url: string, token: string): Promise<number> {
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, maxPayload: 4 * 1024 * 1024 });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    ws.on('message', (d: Buffer) => {
      // Frames start with their type; only small ones need a look.
      if (d.length < 64 * 1024) {
        const text = d.toString('utf8');
        if (text.startsWith('{"type":"welcome"')) ws.send(JSON.stringify({ type: 'op.subscribe', id: 1, op: 'stream-bench', fromSeq: 0 }));
        else if (text.startsWith('{"type":"op.end"')) resolve();
      }
    });
    ws.send(JSON.stringify({ type: 'hello', protocol: 1, client: { name: 'bench', version: '1' } }));
  });
  const ms = performance.now() - t0;
  ws.terminate();
  return ms;
}

async function main(): Promise<void> {
  const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  const agent = await startAgent(bed, 'h1');
  try {
    bed.setHook('h1', `seq 1 ${LINES} | sed 's/^/stream bench line /'\n`);
    const producer = connect(agent, bed.token);
    await producer.connect();
    await producer.startOp('stream-bench', 'switch', {});
    let live = 0;
    const { op } = await producer.follow('stream-bench', (ls) => (live += ls.length));
    producer.close();
    bed.setHook('h1', null);
    if (op.state !== 'succeeded') throw new Error(`the producing op failed: ${op.error}`);
    const journal = path.join(bed.host('h1').stateDir, 'ops', 'stream-bench', 'journal.jsonl');
    const expected = op.lastSeq;
    const bytes = statSync(journal).size;

    const ws: number[] = [];
    const tcp: number[] = [];
    const tcpParsed: number[] = [];
    const wsFrames: number[] = [];
    let lost = 0;
    let disorder = 0;
    let peak = 0;
    const base = process.memoryUsage().rss;
    for (let round = 0; round < ROUNDS; round++) {
      const t = await rawTcp(journal, false);
      if (t.lines !== expected) throw new Error(`raw pipe carried ${t.lines} lines, expected ${expected}`);
      tcp.push(t.ms);
      const tp = await rawTcp(journal, true);
      if (tp.lines !== expected) throw new Error(`raw pipe carried ${tp.lines} lines, expected ${expected}`);
      tcpParsed.push(tp.ms);
      wsFrames.push(await wsTransportOnly(agent.url, bed.token));
      const c = connect(agent, bed.token, { reconnect: false });
      await c.connect();
      const r = await withPeakRss(async () => {
        const t0 = performance.now();
        let got = 0;
        let next = 1;
        await c.follow('stream-bench', (ls) => {
          for (const l of ls) {
            if (l.seq !== next) disorder++;
            next = l.seq + 1;
          }
          got += ls.length;
        });
        return { ms: performance.now() - t0, got };
      });
      c.close();
      ws.push(r.value.ms);
      lost += expected - r.value.got;
      peak = Math.max(peak, r.peak);
    }
    const wsMs = median(ws);
    const tcpMs = median(tcp);
    const tcpParsedMs = median(tcpParsed);
    const framesMs = median(wsFrames);
    const mb = bytes / 1024 / 1024;
    const rate = (ms: number) => `${(expected / (ms / 1000) / 1e6).toFixed(2)} M lines/s`;
    console.log(
      `stream-1m-lines: ${(tcpParsedMs / wsMs).toFixed(2)}x (AgentClient over WebSocket ${rate(wsMs)} vs raw TCP + JSON.parse per line ${rate(tcpParsedMs)}; ` +
        `${expected} lines, ${mb.toFixed(0)} MiB, median of ${ROUNDS}) goal >=0.5`,
    );
    console.log(
      `stream-1m-transport: ${(tcpMs / framesMs).toFixed(2)}x (WebSocket frames ${(mb / (framesMs / 1000)).toFixed(0)} MiB/s vs raw TCP ${(mb / (tcpMs / 1000)).toFixed(0)} MiB/s, neither parsed) goal >=0.5`,
    );
    console.log(`stream-1m-vs-bare-pipe: ${(tcpMs / wsMs).toFixed(2)}x (AgentClient ${rate(wsMs)} vs raw TCP newline count ${rate(tcpMs)}) info`);
    console.log(`stream-lines-lost: ${lost} lost, ${disorder} out of order over ${ROUNDS} runs (live run delivered ${live}/${expected}) goal 0`);
    console.log(`stream-client-peak-rss: ${((peak - base) / 1024 / 1024).toFixed(1)} MiB above the client's ${(base / 1024 / 1024).toFixed(0)} MiB start (journal ${mb.toFixed(0)} MiB) info`);
  } finally {
    await agent.stop();
    await bed.cleanup();
  }
}

await main();
