// Flood: clients that send requests and never read the replies. Per trial, one client
// sends N `ops.list` requests (1000 ops each, ~700 KB a reply) with its socket paused,
// then another sends 4N; the agent's peak RSS over each flood is measured against its
// RSS just before (VmHWM reset; the agent idle between). The extra 3N unread replies must
// not show up in the agent's memory; a third client, reading, gets status answers
// throughout; then the flooders read again and each gets every reply (held back, not
// dropped) and finally leave, after which the agent's memory is back near its baseline.
import { floodWithoutReading, seedOpHistory } from '../../fixtures/nonReader';
import { idle, mib, peakRssBytes, resetPeakRss, rssBytes } from '../../fixtures/procMemory';
import { createTestBed } from '../../fixtures/testbed';
import { RawClient } from '../../integration/agent-harness';
import { Tally, check, killWorkers, sleep, startAgent, stopAllAgents, within, type Scenario } from '../lib';

const MiB = 1024 * 1024;

export const floodScenario: Scenario = {
  name: 'flood',
  async run(ctx) {
    const trials = ctx.quick ? 1 : 3;
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    seedOpHistory(h.stateDir, 1000);
    const tally = new Tally(ctx);
    const agent = await startAgent(bed, 'h1');
    const pid = agent.proc.pid!;
    const figures: string[] = [];
    try {
      const reader = await RawClient.open(agent.url, bed.token);
      let replyBytes = 0;
      // Warm-up: the same replies to a client that reads.
      for (let i = 0; i < 20; i++) replyBytes = JSON.stringify(await reader.request({ type: 'ops.list', id: `w${i}`, limit: 1000 })).length;
      const n = Math.ceil(((ctx.quick ? 40 : 80) * MiB) / replyBytes);
      for (let t = 1; t <= trials; t++) {
        await tally.trial(`trial ${t}: ${n} then ${4 * n} unread replies`, async () => {
          await idle(pid);
          const start = rssBytes(pid);
          const growth: number[] = [];
          const flooders = [];
          for (const count of [n, 4 * n]) {
            await idle(pid);
            const base = rssBytes(pid);
            resetPeakRss(pid);
            flooders.push({ count, c: await floodWithoutReading(agent.url, bed.token, count) });
            await idle(pid);
            growth.push(peakRssBytes(pid) - base);
            const st = await within('a status answer during the flood', 30_000, reader.request({ type: 'status', id: `st-${t}-${count}` }));
            check(st.type === 'result', 'status was not answered during the flood');
          }
          const [g1, g4] = growth as [number, number];
          const extra = 3 * n * replyBytes;
          for (const { count, c } of flooders) {
            c.read();
            await within(`the ${count} replies after reading again`, 300_000, (async () => { while (c.replies() < count && c.closedWith() === undefined) await sleep(100); })());
            check(c.replies() === count, `a flooder got ${c.replies()} of its ${count} replies (closed ${c.closedWith()})`);
            c.ws.terminate();
          }
          await sleep(500);
          await idle(pid);
          const after = rssBytes(pid);
          figures.push(
            `${n} unread replies (${((n * replyBytes) / MiB).toFixed(0)} MiB): peak +${mib(g1)} MiB; ${4 * n} (${((4 * n * replyBytes) / MiB).toFixed(0)} MiB): peak +${mib(g4)} MiB; ` +
              `RSS ${mib(start)} MiB before, ${mib(after)} MiB after the flooders left`,
          );
          check(g4 - g1 < extra / 4, `the agent's memory grows with the unread volume: +${mib(g1)} MiB for ${n} replies, +${mib(g4)} MiB for ${4 * n}`);
          check(g4 < (4 * n * replyBytes) / 4, `the agent's peak RSS grew ${mib(g4)} MiB for ${mib(4 * n * replyBytes)} MiB of unread replies`);
        });
      }
      reader.close();
    } finally {
      await stopAllAgents();
      killWorkers(h.stateDir);
      await bed.cleanup();
    }
    return tally.outcome(figures.join(' | '));
  },
};
