// Two controllers on one broker at once (each its own connection and credentials): both
// see the running op in the status bucket and its journal line for line, and the second
// one's mutating request is refused "busy" by the host lock.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { OutputLine } from '../../protocol';
import { FleetStatusWatcher } from '../../src/broker/fleetStatus';
import { followJournal } from '../../src/broker/journal';
import { waitFor } from './agent-harness';
import { brokerAgentClient, startTwoOperatorBed, stopTwoOperatorBed, type TwoOperatorBed } from './broker-harness';

let two: TwoOperatorBed | undefined;

before(async () => {
  two = await startTwoOperatorBed('2c');
});
after(() => stopTwoOperatorBed(two ?? {}));

test('two controllers: both see the op and its journal; the second mutating request is busy', async () => {
  const { bed, work, alice, bob, agent } = two!;
  const release = path.join(work, 'release');
  // The activation prints, then waits (bounded) until the test has looked from both sides.
  bed.setHook('h1', `i=1; while [ $i -le 300 ]; do echo "line $i"; i=$((i+1)); done; n=0; while [ ! -e ${release} ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; echo released\n`);
  const a = brokerAgentClient(alice, 'h1', 'vscode alice');
  const b = brokerAgentClient(bob, 'h1', 'vscode bob');
  const bobFleet = await FleetStatusWatcher.start(bob.js);
  try {
    await Promise.all([a.connect(), b.connect()]);
    await a.startOp('two-1', 'switch', {});
    const aliceLines: OutputLine[] = [];
    const aliceDone = a.follow('two-1', (ls) => aliceLines.push(...ls));
    const bobLines: OutputLine[] = [];
    const bobView = followJournal(bob.js, 'h1', 'two-1', (ls) => bobLines.push(...ls));
    const busy = await waitFor("bob's status view shows the running op", () => bobFleet.get('h1')?.record.status?.busy);
    assert.equal(busy.op, 'two-1');
    assert.equal(busy.kind, 'switch');
    await assert.rejects(b.startOp('two-2', 'switch', {}), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'busy');
      assert.match(e.message, /two-1/);
      return true;
    });
    await waitFor('both controllers saw the activation output', () => aliceLines.some((l) => l.text === 'line 300') && bobLines.some((l) => l.text === 'line 300'));
    writeFileSync(release, '');
    const [{ op }, bobEnd] = await Promise.all([aliceDone, bobView.done]);
    assert.equal(op.state, 'succeeded', op.error);
    assert.equal(bobEnd.state, 'succeeded');
    assert.equal(aliceLines.length, op.lastSeq);
    assert.deepEqual(bobLines, aliceLines, 'the same journal, line for line');
    await waitFor("bob's status view shows the host free again", () => bobFleet.get('h1')?.record.status && !bobFleet.get('h1')!.record.status!.busy);
    // Bob's refused attempt is in the host's audit log as a refusal through the broker.
    const { readRefusals } = await import('../../agent/journal/audit');
    const refusal = readRefusals(bed.host('h1').stateDir).find((r) => r.event === 'refused' && r.op === 'two-2');
    assert.equal(refusal && 'client' in refusal ? refusal.client.name : undefined, 'vscode bob');
  } finally {
    bed.setHook('h1', null);
    bobFleet.close();
    a.close();
    b.close();
  }
});
