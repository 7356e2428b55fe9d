// kill -9 of the agent at a random instant during switch, rollback and force-rebuild.
// Every other trial the op's worker process group dies too (the whole service killed,
// like a power cut for the op). After the agent is restarted on the same port: the op
// ends in a recorded final state, every line the client had received is in the
// journal, the client's whole copy equals the journal, the host lock is free and the
// profile's generations are intact (links = nix-env --list-generations, none lost).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { OpInfo, OpKind, OutputLine } from '../../../protocol';
import { readOpInfo } from '../../../agent/journal/opStore';
import { createTestBed } from '../../fixtures/testbed';
import { connect } from '../../integration/agent-harness';
import {
  Tally,
  alive,
  assertProfileIntact,
  assertReceivedInJournal,
  assertSameAsJournal,
  check,
  killWorkers,
  pullCheckout,
  readProfileLinks,
  rng,
  sleep,
  startAgent,
  stopAllAgents,
  within,
  workerPid,
  type Scenario,
} from '../lib';

const KINDS: OpKind[] = ['switch', 'rollback', 'force-rebuild'];

export const killScenario: Scenario = {
  name: 'kill-9',
  async run(ctx) {
    const trials = ctx.quick ? 6 : 51;
    const random = rng(Number(process.env.NIXFLEET_RELIABILITY_SEED) + 1);
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    const tally = new Tally(ctx);
    const states: Record<string, number> = {};
    let agent = await startAgent(bed, 'h1');
    const port = agent.port;
    const c = connect(agent, bed.token, { reconnect: { initialDelayMs: 30, maxDelayMs: 200 } });
    let final = readProfileLinks(h.profile);
    try {
      await c.connect();
      // A first generation; trial 1 (a switch) adds the second the first rollback goes back to.
      for (const v of ['24.05.2']) {
        await bed.setVersion('h1', v);
        await pullCheckout(bed, 'h1');
        const id = `k9-setup-${v.replace(/\./g, '-')}`;
        await c.startOp(id, 'switch', {});
        const { op } = await c.follow(id);
        check(op.state === 'succeeded', `setup switch failed: ${op.error}`);
      }
      // Output over about a second of activation, so kills land before, during and after it.
      bed.setHook('h1', 'i=1; while [ $i -le 60 ]; do echo "activation line $i"; i=$((i+1)); sleep 0.01; done\n');
      for (let i = 0; i < trials; i++) {
        const kind = KINDS[i % KINDS.length]!;
        const withWorker = i % 2 === 1;
        const delay = Math.floor(random() * 1600);
        const label = `trial ${i + 1} (${kind}, kill at ${delay} ms${withWorker ? ', worker too' : ''})`;
        await tally.trial(label, async () => {
          if (kind !== 'rollback') {
            await bed.setVersion('h1', `24.05.${100 + i}`);
            await pullCheckout(bed, 'h1');
          }
          const t0 = Date.now();
          const mark = (what: string) => process.env.NIXFLEET_RELIABILITY_DEBUG && ctx.note(`${label}: ${what} at ${Date.now() - t0} ms`);
          const before = await assertProfileIntact(h.profile, bed.env);
          mark('prepared');
          const opId = `k9-${i}-${randomBytes(3).toString('hex')}`;
          const got: OutputLine[] = [];
          let followP: Promise<{ op: OpInfo }> | undefined;
          const startP = c.startOp(opId, kind, {}).then(
            () => {
              followP = c.follow(opId, (ls) => got.push(...ls));
              return true;
            },
            () => false,
          );
          await sleep(delay);
          const wpid = workerPid(h.stateDir, opId);
          await agent.kill9();
          if (withWorker && wpid && alive(wpid)) process.kill(-wpid, 'SIGKILL');
          const receivedBeforeKill = [...got];
          await sleep(50);
          mark('killed');
          agent = await startAgent(bed, 'h1', { port });
          mark('restarted');
          const answered = await startP;
          if (!answered) {
            // The start's answer was lost with the agent: a controller retries with the same id.
            await within('retried op.start', 20_000, c.startOp(opId, kind, {}));
            followP = c.follow(opId, (ls) => got.push(...ls));
          }
          const { op } = await within(`end of ${opId}`, 90_000, followP!);
          mark(`ended ${op.state}`);
          states[op.state] = (states[op.state] ?? 0) + 1;
          check(['succeeded', 'failed', 'cancelled', 'interrupted'].includes(op.state), `op ended in state ${op.state}`);
          // Once op.start was answered the worker exists and outlives the agent. A kill before the
          // answer may come before the worker was spawned: that op ends interrupted, recorded.
          if (!withWorker && answered) check(op.state === 'succeeded', `the worker outlived the agent, yet the op ended ${op.state}: ${op.error}`);
          const recorded = readOpInfo(h.stateDir, opId);
          check(recorded && recorded.state === op.state, `op.json records ${recorded?.state}, the client saw ${op.state}`);
          await assertReceivedInJournal(receivedBeforeKill, h.stateDir, opId);
          await assertSameAsJournal(got, h.stateDir, opId, op.lastSeq);
          const status = await within('status after restart', 20_000, c.status());
          check(status.busy === undefined, `host still busy with ${status.busy?.op} after ${opId} ended`);
          const after = await assertProfileIntact(h.profile, bed.env, before);
          if (op.state === 'succeeded' && kind !== 'rollback') {
            check(after.numbers.length === before.numbers.length + 1, `${kind} succeeded but generations went ${before.numbers.length} → ${after.numbers.length}`);
          }
          if (op.state === 'succeeded' && kind === 'rollback') check(after.current! < before.current!, `rollback succeeded but current stayed ${after.current}`);
        });
        if (tally.failures > 0 && tally.failures === tally.trials) killWorkers(h.stateDir);
      }
      // The narrowest window, made exact: killed after the op's directory was made and
      // before its op.json was written (random kills land there rarely). The controller's
      // retry with the same id must be accepted and run, not refused forever.
      await tally.trial('kill between the op directory and its op.json', async () => {
        const opId = `k9-half-${randomBytes(3).toString('hex')}`;
        mkdirSync(path.join(h.stateDir, 'ops', opId), { mode: 0o700 });
        writeFileSync(path.join(h.stateDir, 'ops', opId, 'request.json'), '');
        const before = await assertProfileIntact(h.profile, bed.env);
        await within('retried op.start', 20_000, c.startOp(opId, 'test', {}));
        const { op } = await within(`end of ${opId}`, 60_000, c.follow(opId));
        check(op.state === 'succeeded', `the retried op ended ${op.state}: ${op.error}`);
        await assertProfileIntact(h.profile, bed.env, before);
      });
      final = readProfileLinks(h.profile);
    } finally {
      c.close();
      await stopAllAgents();
      killWorkers(h.stateDir);
      await bed.cleanup();
    }
    return tally.outcome(`end states ${JSON.stringify(states)}; ${final.numbers.length} generations at the end`);
  },
};
