// Concurrency: two controllers start mutating ops on one host at the same moment.
// Modes, in turn: two WebSocket controllers on one agent; two agents serving the same
// state dir (an old and a new instance during a restart) with one controller each; a
// WebSocket controller racing the CLI (`nixfleet-agent switch`), started at a random
// offset so either can win. Exactly one op runs, the other gets "busy: <op> running
// since <time>", and the winner adds exactly one generation, none lost.
// The winner's activation waits at a gate the scenario opens only once both attempts were
// made: with a fixed sleep instead, a loaded machine let the first op end before the second
// asked, and then both rightly started.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AgentRequestError } from '../../../src/fleet/agentClient';
import { createTestBed } from '../../fixtures/testbed';
import { AGENT_JS, connect } from '../../integration/agent-harness';
import { Tally, assertProfileIntact, check, killWorkers, opDirs, pullCheckout, rng, sleep, startAgent, stopAllAgents, within, type Scenario } from '../lib';

const BUSY = /^busy: (switch|force-rebuild|rollback|test|pull) [A-Za-z0-9_-]+ running since \d{4}-\d\d-\d\dT/;

export const concurrencyScenario: Scenario = {
  name: 'concurrency',
  async run(ctx) {
    const trials = ctx.quick ? 6 : 21;
    const random = rng(Number(process.env.NIXFLEET_RELIABILITY_SEED) + 7);
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    const tally = new Tally(ctx);
    const a1 = await startAgent(bed, 'h1');
    const a2 = await startAgent(bed, 'h1');
    const c1 = connect(a1, bed.token);
    const c2 = connect(a1, bed.token);
    const c3 = connect(a2, bed.token);
    const wins: Record<string, number> = {};
    // Activation waits (bounded: 90 s) until the gate file exists, so the loser's attempt
    // always meets a running op.
    const gate = path.join(h.dir, 'activation-gate');
    const openGate = () => writeFileSync(gate, '');
    bed.setHook('h1', `i=0; while [ ! -e '${gate}' ] && [ $i -lt 1800 ]; do sleep 0.05; i=$((i+1)); done\n`);
    try {
      await Promise.all([c1.connect(), c2.connect(), c3.connect()]);
      for (let i = 0; i < trials; i++) {
        const mode = (['two-controllers', 'two-agents', 'controller-vs-cli'] as const)[i % 3];
        await tally.trial(`trial ${i + 1} (${mode})`, async () => {
          await bed.setVersion('h1', `24.05.${300 + i}`);
          await pullCheckout(bed, 'h1');
          const before = await assertProfileIntact(h.profile, bed.env);
          const opsBefore = opDirs(h.stateDir);
          rmSync(gate, { force: true });
          const ids = [`cc-${i}-a`, `cc-${i}-b`];
          type Attempt = { ok: true; id: string } | { ok: false; code: string; message: string };
          const viaClient = (c: typeof c1, id: string): Promise<Attempt> =>
            c.startOp(id, 'switch', {}).then(
              () => ({ ok: true as const, id }),
              (e: AgentRequestError) => ({ ok: false as const, code: e.code ?? 'error', message: e.message }),
            );
          let attempts: Attempt[];
          if (mode === 'controller-vs-cli') {
            const cli = spawn(process.execPath, [AGENT_JS, 'switch', '--config', bed.writeConfig('h1'), '--json'], { env: bed.env, stdio: ['ignore', 'pipe', 'pipe'] });
            let out = '';
            let err = '';
            cli.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
            cli.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
            const exited = once(cli, 'exit');
            await sleep(Math.floor(random() * 700));
            const ws = await viaClient(c1, ids[0]!);
            // The controller's op holds the gate: the CLI meets it running and exits busy. If
            // the CLI won, its op is at the gate and ends only once it opens.
            if (ws.ok) await within('the CLI refused', 90_000, exited);
            openGate();
            const [code] = (await within('the CLI switch', 90_000, exited)) as [number | null];
            let cliAttempt: Attempt;
            if (code === 0) {
              const id = (JSON.parse(out) as { id?: string; op?: { id: string } }).id ?? (JSON.parse(out) as { op: { id: string } }).op.id;
              cliAttempt = { ok: true, id };
            } else {
              cliAttempt = { ok: false, code: /busy/.test(err) ? 'busy' : `exit ${code}`, message: err.trim().replace(/^nixfleet-agent: /, '') };
            }
            attempts = [ws, cliAttempt];
          } else {
            const other = mode === 'two-agents' ? c3 : c2;
            attempts = await Promise.all([viaClient(c1, ids[0]!), viaClient(other, ids[1]!)]);
            openGate();
          }
          const winners = attempts.filter((a) => a.ok);
          const losers = attempts.filter((a): a is Extract<Attempt, { ok: false }> => !a.ok);
          check(winners.length === 1, `${winners.length} of the two ops started: ${JSON.stringify(attempts)}`);
          check(losers[0]!.code === 'busy', `the loser got ${losers[0]!.code}: ${losers[0]!.message}`);
          check(BUSY.test(losers[0]!.message), `busy message not in the agreed form: "${losers[0]!.message}"`);
          const winner = (winners[0] as { id: string }).id;
          const who = mode === 'controller-vs-cli' ? (winner === ids[0] ? 'controller' : 'cli') : winner === ids[0] ? 'first' : 'second';
          wins[`${mode}:${who}`] = (wins[`${mode}:${who}`] ?? 0) + 1;
          const { op } = await within(`end of ${winner}`, 90_000, c1.follow(winner));
          check(op.state === 'succeeded', `the winner ${winner} ended ${op.state}: ${op.error}`);
          const newOps = opDirs(h.stateDir).filter((d) => !opsBefore.includes(d));
          check(newOps.length === 1 && newOps[0] === winner, `op directories created: ${newOps.join(', ')}`);
          const after = await assertProfileIntact(h.profile, bed.env, before);
          check(after.numbers.length === before.numbers.length + 1, `generations went ${before.numbers.length} → ${after.numbers.length}`);
          const st = await c1.status();
          check(st.busy === undefined, `still busy with ${st.busy?.op}`);
        });
      }
    } finally {
      for (const c of [c1, c2, c3]) c.close();
      await stopAllAgents();
      killWorkers(h.stateDir);
      await bed.cleanup();
    }
    return tally.outcome(`winners ${JSON.stringify(wins)}`);
  },
};
