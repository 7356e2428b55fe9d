// Magic rollback (confirmTimeout 3 s).
// Network drop: the controller reaches the agent through a loopback relay (the network).
// A switch requested with magicRollback activates a config that "drops the network": its
// activation takes the relay down (connections reset, new ones black-holed) and waits
// until that happened. The agent stays up the whole time; the controller keeps trying to
// reconnect and confirm, and cannot. The detached worker must put the host back on its
// previous generation by itself within the timeout (plus the rollback's own activation),
// re-activate it and record why; when the network is back, the controller reconnects
// and learns it from the op. Agent killed (full form): the same with an activation that
// kills the agent, and a restarted agent reporting it.
// Confirmed: a confirmation over the old connection is refused, one over a fresh
// connection keeps the new generation past the deadline.
import path from 'node:path';
import { existsSync, writeFileSync } from 'node:fs';
import type { OpInfo } from '../../../protocol';
import { readAudit } from '../../../agent/journal/audit';
import { AgentClient, AgentRequestError } from '../../../src/fleet/agentClient';
import { WsTransport } from '../../../src/fleet/transportWs';
import { createTestBed, type TestBed } from '../../fixtures/testbed';
import { connect, type RunningAgent } from '../../integration/agent-harness';
import {
  Tally,
  assertProfileIntact,
  check,
  killWorkers,
  pullCheckout,
  readProfileLinks,
  relay,
  sleep,
  startAgent,
  stopAllAgents,
  within,
  type ProfileView,
  type Relay,
  type Scenario,
} from '../lib';

const TIMEOUT_S = 3;

/** Resolves (with the time) once the profile is back on `before` and that system was activated last. */
async function backOn(bed: TestBed, profile: string, before: ProfileView): Promise<number> {
  const prevTarget = before.targets.get(before.current!)!;
  for (;;) {
    const v = readProfileLinks(profile);
    if (v.current === before.current && bed.activations('h1').at(-1)?.storePath === prevTarget) return Date.now();
    await sleep(50);
  }
}

/** What the controller learns when it is back, and what is on disk: the same for every unconfirmed trial. */
async function assertRolledBack(bed: TestBed, c: AgentClient, opId: string, before: ProfileView, activationsBefore: number): Promise<void> {
  const h = bed.host('h1');
  const acts = bed.activations('h1').slice(activationsBefore);
  check(acts.length === 2, `${acts.length} activations during the op, expected 2 (the new generation, then the previous one)`);
  check(acts[0]!.storePath !== before.targets.get(before.current!), 'the new generation was never activated');
  check(acts[1]!.storePath === before.targets.get(before.current!) && acts[1]!.args.join(' ') === 'switch', `the previous generation was re-activated with ${JSON.stringify(acts[1])}`);
  const { op } = await within(`end of ${opId}`, 60_000, c.follow(opId));
  check(op.state === 'failed', `the op ended ${op.state}`);
  check(new RegExp(`rolled back automatically: no confirmation within ${TIMEOUT_S} s`).test(op.error ?? ''), `error: ${op.error}`);
  check(op.result?.rolledBack === true && op.result.generationAfter === before.current, `result: ${JSON.stringify(op.result)}`);
  const audit = readAudit(h.stateDir).filter((r) => r.op === opId);
  check(audit.length === 1 && /rolled back automatically/.test(audit[0]!.error ?? ''), `audit: ${JSON.stringify(audit)}`);
  check(audit[0]!.generationAfter === before.current, `audit generationAfter ${audit[0]!.generationAfter}`);
  const after = await assertProfileIntact(h.profile, bed.env, before);
  check(after.current === before.current, `current is ${after.current}`);
  check(after.numbers.length === before.numbers.length + 1, 'the unconfirmed generation is not kept beside the others');
}

export const magicRollbackScenario: Scenario = {
  name: 'magic-rollback',
  async run(ctx) {
    const dropped = ctx.quick ? 2 : 10;
    const killed = ctx.quick ? 0 : 3;
    const confirmed = ctx.quick ? 1 : 5;
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    const pidFile = path.join(bed.root, 'agent.pid');
    const tally = new Tally(ctx);
    const overrides = { confirmTimeout: TIMEOUT_S };
    let agent: RunningAgent = await startAgent(bed, 'h1', { overrides });
    const port = agent.port;
    // The network between controller and agent.
    const network: Relay = await relay(() => agent.port);
    const viaNetwork = { url: `ws://127.0.0.1:${network.port}` };
    const c = connect(viaNetwork, bed.token, { reconnect: { initialDelayMs: 50, maxDelayMs: 300 } });
    const lags: number[] = [];
    const attemptsPerTrial: number[] = [];
    let version = 400;
    try {
      await c.connect();
      await bed.setVersion('h1', `24.05.${version++}`);
      await pullCheckout(bed, 'h1');
      await c.startOp('mr-setup', 'switch', {});
      check((await c.follow('mr-setup')).op.state === 'succeeded', 'setup switch failed');

      for (let i = 0; i < dropped; i++) {
        await tally.trial(`network drop ${i + 1}`, async () => {
          await bed.setVersion('h1', `24.05.${version++}`);
          await pullCheckout(bed, 'h1');
          const before = await assertProfileIntact(h.profile, bed.env);
          const activationsBefore = bed.activations('h1').length;
          const cutFile = path.join(bed.root, `drop-${i}`);
          // The new config's activation takes the network down and goes on once it is down.
          // Runs once (it removes itself), so the rollback's re-activation does not repeat it.
          bed.setHook(
            'h1',
            `rm -f "$0"; echo "new config drops the network"; : > ${cutFile}; n=0; while [ ! -e ${cutFile}.down ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done\n`,
          );
          const pid = agent.proc.pid;
          const opId = `mr-${i}-${Date.now().toString(36)}`;
          await c.startOp(opId, 'switch', {}, true);
          await within('the activation dropping the network', 60_000, (async () => {
            while (!existsSync(cutFile)) await sleep(20);
          })());
          network.down();
          const cutAt = Date.now();
          writeFileSync(`${cutFile}.down`, '');
          // The controller does what the extension does: a fresh connection, then op.confirm,
          // again and again while the network is down.
          let stop = false;
          let attempts = 0;
          let got: string | undefined;
          const confirmer = (async () => {
            while (!stop && got === undefined) {
              attempts++;
              const fresh = new AgentClient({
                transport: () => new WsTransport({ url: viaNetwork.url, token: bed.token, connectTimeoutMs: 400 }),
                clientName: 'mr-confirmer',
                clientVersion: '1',
                requestTimeoutMs: 1000,
                reconnect: false,
              });
              try {
                await fresh.connect();
                await fresh.confirmOp(opId);
                got = 'confirmed';
              } catch {
                /* unreachable: try again */
              } finally {
                fresh.close();
              }
              await sleep(100);
            }
          })();
          const back = await within('the host back on its previous generation', (TIMEOUT_S + 30) * 1000, backOn(bed, h.profile, before)).finally(() => (stop = true));
          await confirmer;
          attemptsPerTrial.push(attempts);
          const lag = (back - cutAt) / 1000;
          lags.push(lag);
          check(got === undefined, 'a confirmation got through the dropped network (the trial proves nothing)');
          check(attempts >= 2, `the controller tried to confirm only ${attempts} time(s)`);
          check(lag <= TIMEOUT_S + 5, `the host was back only ${lag.toFixed(1)} s after the drop (timeout ${TIMEOUT_S} s)`);
          check(agent.proc.exitCode === null && agent.proc.signalCode === null && agent.proc.pid === pid, 'the agent went down: this trial is about the network, not the agent');
          // The network comes back: the controller's own connection reconnects and learns why.
          network.up();
          await assertRolledBack(bed, c, opId, before, activationsBefore);
        });
        network.up();
        bed.setHook('h1', null);
      }

      for (let i = 0; i < killed; i++) {
        await tally.trial(`agent killed ${i + 1}`, async () => {
          await bed.setVersion('h1', `24.05.${version++}`);
          await pullCheckout(bed, 'h1');
          const before = await assertProfileIntact(h.profile, bed.env);
          const activationsBefore = bed.activations('h1').length;
          writeFileSync(pidFile, String(agent.proc.pid));
          bed.setHook('h1', `rm -f "$0"; echo "new config kills the agent"; kill -9 $(cat ${pidFile})\n`);
          const opId = `mrk-${i}-${Date.now().toString(36)}`;
          await c.startOp(opId, 'switch', {}, true);
          await within('the activation killing the agent', 60_000, agent.exited);
          const cutAt = Date.now();
          const back = await within('the host back on its previous generation', (TIMEOUT_S + 30) * 1000, backOn(bed, h.profile, before));
          const lag = (back - cutAt) / 1000;
          lags.push(lag);
          check(lag <= TIMEOUT_S + 5, `the host was back only ${lag.toFixed(1)} s after the agent died (timeout ${TIMEOUT_S} s)`);
          // The controller comes back through a restarted agent and learns why.
          agent = await startAgent(bed, 'h1', { port, overrides });
          await assertRolledBack(bed, c, opId, before, activationsBefore);
        });
        bed.setHook('h1', null);
        if (agent.proc.exitCode !== null || agent.proc.signalCode !== null) agent = await startAgent(bed, 'h1', { port, overrides });
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
          const fresh = connect(viaNetwork, bed.token, { reconnect: false });
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
      network.close();
      await stopAllAgents();
      killWorkers(h.stateDir);
      await bed.cleanup();
    }
    const figs: string[] = [];
    if (lags.length) figs.push(`back on the previous generation ${Math.min(...lags).toFixed(1)}-${Math.max(...lags).toFixed(1)} s after the drop/kill (timeout ${TIMEOUT_S} s)`);
    if (attemptsPerTrial.length) figs.push(`${attemptsPerTrial.reduce((a, b) => a + b, 0)} confirm attempts through the dropped network, 0 through`);
    return tally.outcome(figs.join('; ') || undefined);
  },
};
