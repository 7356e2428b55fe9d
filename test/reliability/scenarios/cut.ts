// Connection cut mid-stream: the controller reaches the agent through a loopback TCP
// relay; while an op streams, the relay resets both sides of the connection (RST, no
// close handshake) at a random point, once or twice per op. The client reconnects and
// resumes from the last seq it saw. Afterwards its copy must equal the journal: 0 lines
// lost, 0 duplicated, seq 1..N in order.
import type { OutputLine } from '../../../protocol';
import { createTestBed } from '../../fixtures/testbed';
import { connect } from '../../integration/agent-harness';
import { Tally, assertSameAsJournal, check, killWorkers, relay, rng, startAgent, stopAllAgents, within, type Scenario } from '../lib';

const LINES = 1500;

export const cutScenario: Scenario = {
  name: 'connection-cut',
  async run(ctx) {
    const trials = ctx.quick ? 6 : 50;
    const random = rng(Number(process.env.NIXFLEET_RELIABILITY_SEED) + 3);
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    const tally = new Tally(ctx);
    // The `test` op streams its health check's output: 1500 lines with short pauses.
    const agent = await startAgent(bed, 'h1', {
      overrides: {
        healthChecks: [['/bin/sh', '-c', `i=1; while [ $i -le ${LINES} ]; do echo "check line $i"; i=$((i+1)); [ $((i % 150)) -eq 0 ] && sleep 0.02; done; true`]],
      },
    });
    const r = await relay(() => agent.port);
    const c = connect({ url: `ws://127.0.0.1:${r.port}` }, bed.token, { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    let totalCuts = 0;
    let totalLines = 0;
    try {
      await c.connect();
      await c.startOp('cut-setup', 'switch', {});
      const setup = await c.follow('cut-setup');
      check(setup.op.state === 'succeeded', `setup switch failed: ${setup.op.error}`);
      for (let i = 0; i < trials; i++) {
        const cutsWanted = 1 + (random() < 0.3 ? 1 : 0);
        const cutAt = Array.from({ length: cutsWanted }, () => 1 + Math.floor(random() * LINES)).sort((a, b) => a - b);
        await tally.trial(`trial ${i + 1} (cut after line ${cutAt.join(', ')})`, async () => {
          const opId = `cut-${i}-${Date.now().toString(36)}`;
          await c.startOp(opId, 'test', {});
          const got: OutputLine[] = [];
          let next = 0;
          let cuts = 0;
          const { op } = await within(`end of ${opId}`, 60_000, c.follow(opId, (ls) => {
            got.push(...ls);
            while (next < cutAt.length && got.length >= cutAt[next]!) {
              next++;
              if (r.cut() > 0) cuts++;
            }
          }));
          check(op.state === 'succeeded', `test op ended ${op.state}: ${op.error}`);
          check(cuts >= 1, 'no connection was cut (the op ended before the cut point)');
          totalCuts += cuts;
          totalLines += got.length;
          await assertSameAsJournal(got, h.stateDir, opId, op.lastSeq);
          check(got.filter((l) => l.text.startsWith('check line ')).length === LINES, 'check output incomplete');
        });
      }
    } finally {
      c.close();
      r.close();
      await stopAllAgents();
      killWorkers(h.stateDir);
      await bed.cleanup();
    }
    return tally.outcome(`${totalCuts} cuts, ${totalLines} lines compared with the journals`);
  },
};
