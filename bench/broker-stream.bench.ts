// Journal throughput through the broker against the direct WebSocket stream, side by
// side, from one agent that serves both (listen + broker): a switch prints N lines
// (default 200,000), the agent copies its journal into the broker's stream; then each
// timed round replays the finished op from seq 0 until op.end with AgentClient, once over
// WebSocket and once over BrokerTransport (ordered consumer on the journal stream), every
// line checked in seq order. Goal (issue 10): broker ≥ 0.5× the WebSocket throughput.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AgentClient } from '../src/fleet/agentClient';
import { createTestBed } from '../test/fixtures/testbed';
import { connect, startAgent } from '../test/integration/agent-harness';
import { brokerAgentClient, brokerConfig, operator, startNats } from '../test/integration/broker-harness';

const LINES = Number(process.env.NIXFLEET_BENCH_LINES ?? 200_000);
const ROUNDS = 3;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function replay(c: AgentClient, op: string): Promise<number> {
  await c.connect();
  let next = 1;
  const t0 = performance.now();
  const { op: info } = await c.follow(op, (ls) => {
    for (const l of ls) {
      if (l.seq !== next) throw new Error(`seq ${l.seq} after ${next - 1}`);
      next++;
    }
  });
  const ms = performance.now() - t0;
  if (next - 1 !== info.lastSeq) throw new Error(`got ${next - 1} lines of ${info.lastSeq}`);
  c.close();
  return ms;
}

const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
const work = mkdtempSync(path.join(tmpdir(), 'nixfleet-bench-broker-'));
const setup = brokerConfig(path.join(work, 'broker'), ['h1']);
const nats = await startNats(setup);
const broker = await operator(setup, nats.urls);
const agent = await startAgent(bed, 'h1', { overrides: { broker: nats.urls, brokerCredentials: setup.hostCredentials('h1') } });
try {
  bed.setHook('h1', `seq 1 ${LINES} | sed 's/^/broker bench line /'\n`);
  const producer = connect(agent, bed.token);
  await producer.connect();
  await producer.startOp('broker-bench', 'switch', {});
  const { op } = await producer.follow('broker-bench', () => {});
  producer.close();
  bed.setHook('h1', null);
  if (op.state !== 'succeeded') throw new Error(`producing switch ${op.state}: ${op.error}`);
  // The journal reaches the stream behind the file: wait until its end record is there.
  await replay(brokerAgentClient(broker, 'h1'), 'broker-bench');
  const ws: number[] = [];
  const viaBroker: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    ws.push(await replay(connect(agent, bed.token), 'broker-bench'));
    // Each broker round replays from the start of the stream, not from where the last one ended.
    broker.positions.delete('h1', 'broker-bench');
    viaBroker.push(await replay(brokerAgentClient(broker, 'h1'), 'broker-bench'));
  }
  const rate = (ms: number) => Math.round((op.lastSeq / ms) * 1000);
  const ratio = median(ws) / median(viaBroker);
  console.log(
    `broker-journal-throughput: ${ratio.toFixed(2)}x the WebSocket stream (goal >= 0.5x): ` +
      `${op.lastSeq} lines, broker ${rate(median(viaBroker))} lines/s (median of ${ROUNDS}), WebSocket ${rate(median(ws))} lines/s`,
  );
} finally {
  await agent.stop();
  await broker.close();
  await nats.stop();
  await bed.cleanup();
  rmSync(work, { recursive: true, force: true });
}
