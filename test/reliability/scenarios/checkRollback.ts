// rollbackOnCheckFailure: a switch to a generation whose health check fails, on an agent
// with rollbackOnCheckFailure set. Every trial: the op fails naming the failed check and
// the restore, the profile on disk points at the previous generation again (links and
// nix-env agree, no generation lost, the failed one kept for inspection), the previous
// generation was re-activated (activation log), the failed check is recorded for the new
// generation, and the audit log has the op. A control trial in each run switches to a
// healthy generation, which must stay: the check really tells them apart.
import { readAudit } from '../../../agent/journal/audit';
import { createTestBed } from '../../fixtures/testbed';
import { connect } from '../../integration/agent-harness';
import { Tally, assertProfileIntact, check, killWorkers, pullCheckout, readProfileLinks, startAgent, stopAllAgents, within, type Scenario } from '../lib';

export const checkRollbackScenario: Scenario = {
  name: 'check-rollback',
  async run(ctx) {
    const broken = ctx.quick ? 2 : 10;
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    const tally = new Tally(ctx);
    // The "service" of a system whose version says broken fails: the check reads the
    // version file of the generation the profile points at now (what an activated host runs).
    const healthCheck = [
      '/bin/sh',
      '-c',
      `v=$(cat "$(readlink -f "$1")/nixos-version"); echo "system $v"; case "$v" in *broken*) echo "unit example.service failed" >&2; exit 3;; esac`,
      'health-check',
      h.profile,
    ];
    const agent = await startAgent(bed, 'h1', { overrides: { rollbackOnCheckFailure: true, healthChecks: [healthCheck] } });
    const c = connect(agent, bed.token, { reconnect: false });
    let version = 600;
    const restoreTimes: number[] = [];
    try {
      await c.connect();
      const good = async (label: string) => {
        await bed.setVersion('h1', `24.05.${version++}`);
        await pullCheckout(bed, 'h1');
        const before = await assertProfileIntact(h.profile, bed.env);
        const opId = `cr-good-${label}-${Date.now().toString(36)}`;
        await c.startOp(opId, 'switch', {});
        const { op } = await within(`end of ${opId}`, 120_000, c.follow(opId));
        check(op.state === 'succeeded', `a healthy switch ended ${op.state}: ${op.error}`);
        check(op.result?.checks === 'passed', `checks ${op.result?.checks}`);
        const after = await assertProfileIntact(h.profile, bed.env, before);
        check(after.current === Math.max(...after.numbers) && after.current !== before.current, `a healthy generation did not stay current (${after.current})`);
      };
      await good('setup');

      for (let i = 0; i < broken; i++) {
        await tally.trial(`broken ${i + 1}`, async () => {
          await bed.setVersion('h1', `24.05.${version++}-broken`);
          await pullCheckout(bed, 'h1');
          const before = await assertProfileIntact(h.profile, bed.env);
          const prevTarget = before.targets.get(before.current!)!;
          const activationsBefore = bed.activations('h1').length;
          const opId = `cr-${i}-${Date.now().toString(36)}`;
          const t0 = Date.now();
          await c.startOp(opId, 'switch', {});
          const { op, lines } = await within(`end of ${opId}`, 120_000, c.follow(opId));
          restoreTimes.push((Date.now() - t0) / 1000);
          check(op.state === 'failed', `the op ended ${op.state}`);
          check(/health checks failed on generation \d+/.test(op.error ?? ''), `error does not name the failed checks: ${op.error}`);
          check(
            new RegExp(`rollbackOnCheckFailure: generation ${before.current} was restored and re-activated`).test(op.error ?? ''),
            `error does not say generation ${before.current} was restored: ${op.error}`,
          );
          check(lines.some((l) => l.text.includes('unit example.service failed')), "the check's output is not in the op's log");
          // On disk: back on the previous generation, the failed one kept, nothing lost.
          const after = await assertProfileIntact(h.profile, bed.env, before);
          check(after.current === before.current, `the profile points at generation ${after.current}, not ${before.current}`);
          const failedGen = Math.max(...after.numbers);
          check(failedGen > before.current! && readProfileLinks(h.profile).targets.has(failedGen), 'the failed generation was not created (nothing was tested)');
          // Activated: the broken system first, then the previous one again, with "switch".
          const acts = bed.activations('h1').slice(activationsBefore);
          check(acts.length === 2, `${acts.length} activations during the op, expected 2 (new, then previous)`);
          check(acts[0]!.storePath === after.targets.get(failedGen), 'the first activation was not the new generation');
          check(acts[1]!.storePath === prevTarget && acts[1]!.args.join(' ') === 'switch', `the previous generation was not re-activated (${JSON.stringify(acts[1])})`);
          // The failed check is recorded for the failed generation; the previous one is current.
          const gens = await c.generations();
          const g = gens.find((x) => x.generation === failedGen);
          check(g?.checks?.passed === false, `generation ${failedGen} checks recorded as ${JSON.stringify(g?.checks)}`);
          check(gens.find((x) => x.current)?.generation === before.current, 'the agent reports another current generation');
          const audit = readAudit(h.stateDir).filter((r) => r.op === opId);
          check(audit.length === 1 && audit[0]!.outcome === 'failed' && /rollbackOnCheckFailure/.test(audit[0]!.error ?? ''), `audit: ${JSON.stringify(audit)}`);
        });
      }
      await tally.trial('control: a healthy switch stays', () => good('control'));
    } finally {
      c.close();
      await stopAllAgents();
      killWorkers(h.stateDir);
      await bed.cleanup();
    }
    const fig = restoreTimes.length ? `switch + failed check + restore ${Math.min(...restoreTimes).toFixed(1)}-${Math.max(...restoreTimes).toFixed(1)} s` : undefined;
    return tally.outcome(fig);
  },
};
