// Refusals over the broker are rate-limited per controller, not all together: every broker
// session reaches the agent from the same place (the broker), so one bucket for all of them
// let a noisy controller use up the per-source limit and bob's refused request went
// unrecorded. A real nats-server, a real agent with listen: null, two operators.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { readRefusals, type RefusalRecord, type RefusalSummaryRecord } from '../../agent/journal/audit';
import { DEFAULT_REFUSAL_LIMITS } from '../../agent/server/refusalLog';
import { brokerAgentClient, startTwoOperatorBed, stopTwoOperatorBed, type TwoOperatorBed } from './broker-harness';

let two: TwoOperatorBed | undefined;

before(async () => {
  two = await startTwoOperatorBed('refusals');
});
after(() => stopTwoOperatorBed(two ?? {}));

test("a flood of refused requests from one controller does not hide another's refusal", async () => {
  const { bed, alice, bob, agent } = two!;
  const flood = DEFAULT_REFUSAL_LIMITS.perSource * 3;
  const a = brokerAgentClient(alice, 'h1', 'vscode alice@laptop');
  const b = brokerAgentClient(bob, 'h1', 'vscode bob@desk');
  try {
    await Promise.all([a.connect(), b.connect()]);
    // Rolling back to a generation that does not exist is refused as invalid, and audited.
    for (let i = 0; i < flood; i++) {
      await assert.rejects(a.startOp(`noisy-${i}`, 'rollback', { generation: 9999 }), (e: Error & { code?: string }) => e.code === 'invalid' || (assert.fail(`expected invalid, got ${e.code}: ${e.message}`), false));
    }
    await assert.rejects(b.startOp('bob-1', 'rollback', { generation: 9999 }), (e: Error & { code?: string }) => e.code === 'invalid');
  } finally {
    a.close();
    b.close();
  }
  const written = readRefusals(bed.host('h1').stateDir).filter((r): r is RefusalRecord => r.event === 'refused');
  const fromAlice = written.filter((r) => r.client.name === 'vscode alice@laptop');
  assert.equal(fromAlice.length, DEFAULT_REFUSAL_LIMITS.perSource, "alice's refusals are cut at the per-source limit");
  const bobs = written.find((r) => r.op === 'bob-1');
  assert.ok(bobs, `bob's refusal is written as its own record; written: ${JSON.stringify(written.map((r) => [r.source, r.op]))}`);
  assert.equal(bobs.client.name, 'vscode bob@desk');
  assert.equal(bobs.source, 'broker vscode bob@desk');
  assert.equal(fromAlice[0]!.source, 'broker vscode alice@laptop');
  // The rest of alice's are counted, by controller, in the summary the agent writes when it stops.
  await agent.stop();
  const summary = readRefusals(bed.host('h1').stateDir).find((r): r is RefusalSummaryRecord => r.event === 'refused-summary');
  assert.ok(summary, 'a summary of what was left out');
  assert.deepEqual(summary.bySource, { 'broker vscode alice@laptop': flood - DEFAULT_REFUSAL_LIMITS.perSource });
});
