// kill -9 of the worker between setting the profile and activating: a nix-env double on
// PATH runs the real nix-env and then, after a --set, blocks, so the kill lands with the
// profile on a generation that never ran. The agent that notices (the running one, or
// in the full form every other trial a restarted one) must switch the profile back to
// the generation the host runs, and say so in the op's journal, error and result; status
// and generations must call that generation current; nothing was activated; the audit
// log has the op; the host takes the next switch.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readAudit } from '../../../agent/journal/audit';
import { blockingNixEnv } from '../../fixtures/blockingNixEnv';
import { createTestBed } from '../../fixtures/testbed';
import { connect } from '../../integration/agent-harness';
import { Tally, alive, assertProfileIntact, check, killWorkers, pullCheckout, sleep, startAgent, stopAllAgents, within, workerPid, type Scenario } from '../lib';

export const killSetProfileScenario: Scenario = {
  name: 'kill-set-profile',
  async run(ctx) {
    const trials = ctx.quick ? 1 : 4;
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    const tally = new Tally(ctx);
    const { marker, reached, path: PATH, remove } = blockingNixEnv(bed);
    const env = { PATH };
    let agent = await startAgent(bed, 'h1', { env });
    const port = agent.port;
    const c = connect(agent, bed.token, { reconnect: { initialDelayMs: 50, maxDelayMs: 300 } });
    const recoverMs: number[] = [];
    try {
      await c.connect();
      await c.startOp('ksp-setup', 'switch', {});
      check((await c.follow('ksp-setup')).op.state === 'succeeded', 'setup switch failed');
      for (let t = 0; t < trials; t++) {
        const withRestart = t % 2 === 1;
        await tally.trial(`killed after set-profile ${t + 1}${withRestart ? ' (agent killed too)' : ''}`, async () => {
          await bed.setVersion('h1', `24.11.${100 + t}`);
          await pullCheckout(bed, 'h1');
          const before = await assertProfileIntact(h.profile, bed.env);
          const activations = bed.activations('h1').length;
          rmSync(reached, { force: true });
          writeFileSync(marker, '');
          const opId = `ksp-${t}-${Date.now().toString(36)}`;
          await c.startOp(opId, 'switch', {});
          const wrapper = Number(await within('nix-env --set', 120_000, (async () => {
            while (!existsSync(reached)) await sleep(20);
            return readFileSync(reached, 'utf8').trim();
          })()));
          const set = await assertProfileIntact(h.profile, bed.env);
          check(set.current !== before.current, 'the profile was not set to a new generation before the kill');
          if (withRestart) await agent.kill9();
          const pid = workerPid(h.stateDir, opId)!;
          process.kill(pid, 'SIGKILL');
          process.kill(wrapper, 'SIGKILL');
          rmSync(marker);
          const killedAt = Date.now();
          while (alive(pid)) await sleep(10);
          if (withRestart) agent = await startAgent(bed, 'h1', { port, env });
          const { op, lines } = await within(`end of ${opId}`, 60_000, c.follow(opId));
          recoverMs.push(Date.now() - killedAt);
          const said = new RegExp(`killed after the profile was set to generation ${set.current} and before it was activated; host h1 still runs generation ${before.current}, so the agent switched the profile back to it`);
          check(op.state === 'interrupted', `op ended ${op.state}`);
          check(said.test(op.error ?? ''), `error: ${op.error}`);
          check(said.test(op.result?.message ?? '') && op.result?.generationAfter === before.current && op.result?.generationBefore === before.current, `result: ${JSON.stringify(op.result)}`);
          check(said.test(lines.at(-1)?.text ?? ''), `last journal line: ${lines.at(-1)?.text}`);
          const after = await assertProfileIntact(h.profile, bed.env);
          check(after.current === before.current, `profile on ${after.current}, the host runs ${before.current}`);
          check(after.numbers.includes(set.current!), 'the never-activated generation was removed');
          const st = await c.status();
          check(st.currentGeneration === before.current && st.busy === undefined, `status: generation ${st.currentGeneration}, busy ${JSON.stringify(st.busy)}`);
          const gens = await c.generations();
          check(gens.filter((g) => g.current).map((g) => g.generation).join() === String(before.current), 'generations disagree with the profile');
          check(bed.activations('h1').length === activations, 'something was activated');
          const audit = readAudit(h.stateDir).filter((r) => r.op === opId);
          check(audit.length === 1 && audit[0]!.outcome === 'interrupted' && said.test(audit[0]!.error ?? ''), `audit: ${JSON.stringify(audit)}`);
          // The host takes the next switch.
          const next = `${opId}-again`;
          await c.startOp(next, 'switch', {});
          const again = await within(`end of ${next}`, 120_000, c.follow(next));
          check(again.op.state === 'succeeded', `the next switch ${again.op.state}: ${again.op.error}`);
        });
        rmSync(marker, { force: true });
      }
    } finally {
      c.close();
      await stopAllAgents();
      killWorkers(h.stateDir);
      remove();
      await bed.cleanup();
    }
    return tally.outcome(recoverMs.length ? `profile put back ${(Math.min(...recoverMs) / 1000).toFixed(1)}-${(Math.max(...recoverMs) / 1000).toFixed(1)} s after the kill` : undefined);
  },
};
