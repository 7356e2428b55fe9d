// The broker node under the agent killed mid-switch: a three-node nats-server cluster on
// loopback, streams and bucket with three replicas, an agent with no listening port that
// knows all three URLs, a controller on its own connection. In each trial a switch prints
// 400 lines; after a random number of them reached the controller, kill -9 the node the
// agent is connected to (the controller's own connection may be on it too), then start
// the node again. The op must finish, and the controller must end with every journal
// line exactly once, the same as the host's journal file. Quick form 3 trials, full 20.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { OutputLine } from '../../../protocol';
import { createTestBed } from '../../fixtures/testbed';
import { agentBrokerPort, brokerAgentClient, brokerConfig, operator, startBrokerAgent, startNats } from '../../integration/broker-harness';
import { Tally, assertSameAsJournal, check, killWorkers, rng, sleep, within, type Scenario } from '../lib';

const LINES = 400;

export const brokerKillScenario: Scenario = {
  name: 'broker-node-kill',
  async run(ctx) {
    const trials = ctx.quick ? 3 : 20;
    const random = rng(Number(process.env.NIXFLEET_RELIABILITY_SEED) + 11);
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const work = mkdtempSync(path.join(tmpdir(), 'nixfleet-broker-kill-'));
    const setup = brokerConfig(path.join(work, 'broker'), ['h1']);
    const nats = await startNats(setup, 3);
    const tally = new Tally(ctx);
    const client = await operator(setup, nats.urls, 'alice', 3);
    const agent = await startBrokerAgent(bed, 'h1', nats.urls, setup.hostCredentials('h1'));
    const c = brokerAgentClient(client, 'h1', 'reliability');
    bed.setHook('h1', `i=1; while [ $i -le ${LINES} ]; do echo "switch line $i"; i=$((i+1)); [ $((i % 20)) -eq 0 ] && sleep 0.02; done; true\n`);
    let failovers = 0;
    try {
      await c.connect();
      for (let i = 0; i < trials; i++) {
        const killAfter = 1 + Math.floor(random() * 300);
        await tally.trial(`trial ${i + 1} (kill after ${killAfter} lines)`, async () => {
          const opId = `bk-${i}-${Date.now().toString(36)}`;
          await within(`start of ${opId}`, 60_000, c.startOp(opId, 'switch', {}));
          const got: OutputLine[] = [];
          let killed: Promise<void> | undefined;
          const follow = c.follow(opId, (ls) => {
            got.push(...ls);
            if (!killed && got.length >= killAfter) {
              const port = agentBrokerPort(agent);
              const idx = nats.nodes.findIndex((n) => n.port === port);
              killed = (async () => {
                check(idx >= 0, `cannot tell which node the agent is on (port ${port})`);
                await nats.kill9(idx);
                failovers++;
                await sleep(200 + Math.floor(random() * 800));
                await nats.start(idx);
              })();
            }
          });
          const { op } = await within(`end of ${opId}`, 120_000, follow);
          await killed;
          check(killed !== undefined, `the op ended before ${killAfter} lines reached the controller`);
          check(op.state === 'succeeded', `${opId} ${op.state}: ${op.error}`);
          await assertSameAsJournal(got, bed.host('h1').stateDir, opId, op.lastSeq);
        });
      }
    } finally {
      bed.setHook('h1', null);
      c.close();
      await agent.stop();
      await client.close();
      killWorkers(bed.host('h1').stateDir);
      await nats.stop();
      await bed.cleanup();
      rmSync(work, { recursive: true, force: true });
    }
    return tally.outcome(`${failovers} node kills under the agent`);
  },
};
