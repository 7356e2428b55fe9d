// Magic rollback (confirmTimeout 3 s). Unconfirmed: a switch requested with
// magicRollback whose activation kills the agent (the new config "broke" the controller's
// reach); nobody confirms. The detached worker must put the host back on its previous
// generation within the timeout (plus the rollback's own activation), re-activate it,
// record why in the op and the audit log, and a restarted agent reports it to the
// reconnecting controller. Confirmed: a confirmation over the old connection is refused,
// one over a fresh connection keeps the new generation past the deadline.
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import type { OpInfo } from '../../../protocol';
import { readAudit } from '../../../agent/journal/audit';
import { AgentRequestError } from '../../../src/fleet/agentClient';
import { createTestBed } from '../../fixtures/testbed';
import { connect } from '../../integration/agent-harness';
import {
  Tally,
  assertProfileIntact,
  check,
  killWorkers,
  pullCheckout,
  readProfileLinks,
  sleep,
  startAgent,
  stopAllAgents,
  within,
  type Scenario,
} from '../lib';

const TIMEOUT_S = 3;

export const magicRollbackScenario: Scenario = {
  name: 'magic-rollback',
  async run(ctx) {
    const unconfirmed = ctx.quick ? 2 : 10;
    const confirmed = ctx.quick ? 1 : 5;
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    const pidFile = path.join(bed.root, 'agent.pid');
    const tally = new Tally(ctx);
    const overrides = { confirmTimeout: TIMEOUT_S };
    let agent = await startAgent(bed, 'h1', { overrides });
    const port = agent.port;
    const c = connect(agent, bed.token, { reconnect: { initialDelayMs: 50, maxDelayMs: 300 } });
    const lags: number[] = [];
    let version = 400;
    try {
      await c.connect();
      await bed.setVersion('h1', `24.05.${version++}`);
      await pullCheckout(bed, 'h1');
      await c.startOp('mr-setup', 'switch', {});
      check((await c.follow('mr-setup')).op.state === 'succeeded', 'setup switch failed');

      for (let i = 0; i < unconfirmed; i++) {
        await tally.trial(`unconfirmed ${i + 1}`, async () => {
          await bed.setVersion('h1', `24.05.${version++}`);
          await pullCheckout(bed, 'h1');
          const before = await assertProfileIntact(h.profile, bed.env);
          const prevTarget = before.targets.get(before.current!)!;
          writeFileSync(pidFile, String(agent.proc.pid));
          // Runs once (it removes itself), so the rollback's re-activation does not repeat it.
          bed.setHook('h1', `rm -f "$0"; echo "new config drops the agent"; kill -9 $(cat ${pidFile})\n`);
          const opId = `mr-${i}-${Date.now().toString(36)}`;
          await c.startOp(opId, 'switch', {}, true);
          await within('the activation killing the agent', 60_000, agent.exited);
          const cutAt = Date.now();
          const switched = readProfileLinks(h.profile);
          check(switched.current !== before.current, 'the switch had not set the new generation when the agent went down');
          // Back on the previous generation, re-activated, within the timeout.
          const back = await within('the host back on its previous generation', (TIMEOUT_S + 30) * 1000, (async () => {
            for (;;) {
              const v = readProfileLinks(h.profile);
              if (v.current === before.current && bed.activations('h1').at(-1)?.storePath === prevTarget) return Date.now();
              await sleep(50);
            }
          })());
          const lag = (back - cutAt) / 1000;
          lags.push(lag);
          check(lag <= TIMEOUT_S + 5, `the host was back only ${lag.toFixed(1)} s after the cut (timeout ${TIMEOUT_S} s)`);
          const last = bed.activations('h1').at(-1)!;
          check(last.args.join(' ') === 'switch', `the previous generation was activated with "${last.args.join(' ')}"`);
          // The controller comes back through a restarted agent and learns why.
          agent = await startAgent(bed, 'h1', { port, overrides });
          const { op } = await within(`end of ${opId}`, 60_000, c.follow(opId));
          check(op.state === 'failed', `the op ended ${op.state}`);
          check(/rolled back automatically: no confirmation within 3 s/.test(op.error ?? ''), `error: ${op.error}`);
          check(op.result?.rolledBack === true && op.result.generationAfter === before.current, `result: ${JSON.stringify(op.result)}`);
          const audit = readAudit(h.stateDir).filter((r) => r.op === opId);
          check(audit.length === 1 && /rolled back automatically/.test(audit[0]!.error ?? ''), `audit: ${JSON.stringify(audit)}`);
          check(audit[0]!.generationAfter === before.current, `audit generationAfter ${audit[0]!.generationAfter}`);
          const after = await assertProfileIntact(h.profile, bed.env, before);
          check(after.current === before.current, `current is ${after.current}`);
        });
        bed.setHook('h1', null);
      }

      for (let i = 0; i < confirmed; i++) {
        await tally.trial(`confirmed ${i + 1}`, async () => {
          await bed.setVersion('h1', `24.05.${version++}`);
          await pullCheckout(bed, 'h1');
          const before = await assertProfileIntact(h.profile, bed.env);
          const opId = `mrc-${i}-${Date.now().toString(36)}`;
          await c.startOp(opId, 'switch', {}, true);
          const waiting = await within('the op waiting for confirmation', 60_000, (async () => {
            for (;;) {
              const o = (await c.listOps(20)).find((x: OpInfo) => x.id === opId);
              if (o?.confirmDeadline) return o;
              check(o?.state === 'running', `the op ended ${o?.state} before asking for confirmation: ${o?.error}`);
              await sleep(100);
            }
          })());
          // The connection from before the activation proves nothing about reach now.
          const stale = await c.confirmOp(opId).then(
            () => 'accepted',
            (e: AgentRequestError) => e.code ?? 'error',
          );
          check(stale === 'failed', `a confirmation over the pre-activation connection was ${stale}`);
          const fresh = connect(agent, bed.token, { reconnect: false });
          await fresh.connect();
          await fresh.confirmOp(opId);
          fresh.close();
          const { op } = await within(`end of ${opId}`, 60_000, c.follow(opId));
          check(op.state === 'succeeded', `confirmed op ended ${op.state}: ${op.error}`);
          await sleep(Math.max(0, Date.parse(waiting.confirmDeadline!) - Date.now()) + 500);
          const after = await assertProfileIntact(h.profile, bed.env, before);
          check(after.current === Math.max(...after.numbers) && after.current !== before.current, `current is ${after.current} after the deadline`);
        });
      }
    } finally {
      bed.setHook('h1', null);
      c.close();
      await stopAllAgents();
      killWorkers(h.stateDir);
      await bed.cleanup();
    }
    const fig = lags.length ? `back on the previous generation ${Math.min(...lags).toFixed(1)}-${Math.max(...lags).toFixed(1)} s after the cut (timeout ${TIMEOUT_S} s)` : undefined;
    return tally.outcome(fig);
  },
};
