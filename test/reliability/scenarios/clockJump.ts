// The wall clock stepped during an op (NTP after a long suspend, an operator's `date -s`):
// the agent and its workers run under libfaketime (Debian's faketime) with an offset the
// scenario changes while an op runs; the monotonic clock is left alone, as NTP leaves it.
// Op across jumps: the journal stays in seq order, complete, with each line once, and the
// op ends as it would have. Magic rollback's confirm window: stepped forward by hours, it
// must not roll back before the controller could confirm; stepped back by hours, an
// unconfirmed generation must still be rolled back after confirmTimeout, not hours later.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { OpInfo } from '../../../protocol';
import { createTestBed } from '../../fixtures/testbed';
import { connect } from '../../integration/agent-harness';
import { Tally, assertProfileIntact, assertSameAsJournal, check, killWorkers, pullCheckout, sleep, startAgent, stopAllAgents, within, type Scenario } from '../lib';

const TIMEOUT_S = 4;
const HOURS = 3;

/** libfaketime's preload library (Debian: /usr/lib/<triplet>/faketime/libfaketime.so.1). */
function libfaketime(): string {
  for (const base of ['/usr/lib', '/usr/lib64', '/usr/local/lib']) {
    if (!existsSync(base)) continue;
    for (const d of ['', ...readdirSync(base)]) {
      const f = path.join(base, d, 'faketime', 'libfaketime.so.1');
      if (existsSync(f)) return f;
    }
  }
  throw new Error('libfaketime is missing: install the faketime package (apt-get install faketime)');
}

export const clockJumpScenario: Scenario = {
  name: 'clock-jump',
  async run(ctx) {
    const rounds = ctx.quick ? 1 : 3;
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    const tally = new Tally(ctx);
    const offsetFile = path.join(bed.root, 'faketime-offset');
    const setOffset = (o: string) => writeFileSync(offsetFile, o + '\n');
    setOffset('+0');
    const env = {
      LD_PRELOAD: libfaketime(),
      FAKETIME_TIMESTAMP_FILE: offsetFile,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    };
    const agent = await startAgent(bed, 'h1', { env, overrides: { confirmTimeout: TIMEOUT_S } });
    const c = connect(agent, bed.token, { reconnect: false });
    const backLags: number[] = [];
    let version = 600;
    /** Start a magic-rollback switch to a new version and resolve once it waits for confirmation. */
    const waitingSwitch = async (opId: string) => {
      await bed.setVersion('h1', `24.05.${version++}`);
      await pullCheckout(bed, 'h1');
      const before = await assertProfileIntact(h.profile, bed.env);
      await c.startOp(opId, 'switch', {}, true);
      await within('the op waiting for confirmation', 120_000, (async () => {
        for (;;) {
          const o = (await c.listOps(20)).find((x: OpInfo) => x.id === opId);
          if (o?.confirmDeadline) return;
          check(o?.state === 'running', `the op ended ${o?.state} before asking for confirmation: ${o?.error}`);
          await sleep(50);
        }
      })());
      return { before, waitingAt: Date.now() };
    };
    try {
      await c.connect();
      await c.startOp('cj-setup', 'switch', {});
      check((await c.follow('cj-setup')).op.state === 'succeeded', 'setup switch failed');
      for (let r = 0; r < rounds; r++) {
        await tally.trial(`op across clock jumps ${r + 1}`, async () => {
          const mark = path.join(bed.root, `cj-mark-${r}`);
          bed.setHook('h1', `echo "before the jumps"; : > ${mark}; while [ ! -e ${mark}.go ]; do sleep 0.05; done; echo "after the jumps"\n`);
          const opId = `cj-op-${r}`;
          await bed.setVersion('h1', `24.05.${version++}`);
          await pullCheckout(bed, 'h1');
          await c.startOp(opId, 'switch', {});
          await within('activation', 120_000, (async () => {
            while (!existsSync(mark)) await sleep(20);
          })());
          setOffset(`+${HOURS}h`);
          await sleep(400);
          setOffset(`-${HOURS}h`);
          await sleep(400);
          writeFileSync(`${mark}.go`, '');
          const { op, lines } = await within(`end of ${opId}`, 120_000, c.follow(opId));
          setOffset('+0');
          check(op.state === 'succeeded', `op ended ${op.state}: ${op.error}`);
          await assertSameAsJournal(lines, h.stateDir, opId, op.lastSeq);
          const times = lines.map((l) => Date.parse(l.time));
          check(Math.max(...times) - Math.min(...times) > (HOURS * 3_600_000) / 2, 'the jumps did not reach the journal (is libfaketime active?)');
        });
        bed.setHook('h1', null);
        setOffset('+0');

        await tally.trial(`confirm window, clock +${HOURS}h ${r + 1}`, async () => {
          const opId = `cj-fwd-${r}`;
          await waitingSwitch(opId);
          setOffset(`+${HOURS}h`);
          await sleep(1000); // well inside the real window; hours past it by the wall clock
          const fresh = connect(agent, bed.token, { reconnect: false });
          try {
            await fresh.connect();
            await fresh.confirmOp(opId);
          } catch (err) {
            throw new Error(`the confirmation was refused after a forward jump: ${(err as Error).message}`);
          } finally {
            fresh.close();
          }
          const { op } = await within(`end of ${opId}`, 60_000, c.follow(opId));
          setOffset('+0');
          check(op.state === 'succeeded' && !op.result?.rolledBack, `op ended ${op.state}: ${op.error}`);
        });
        setOffset('+0');

        await tally.trial(`confirm window, clock -${HOURS}h ${r + 1}`, async () => {
          const opId = `cj-back-${r}`;
          const { before, waitingAt } = await waitingSwitch(opId);
          setOffset(`-${HOURS}h`);
          const { op } = await within(`the rollback of ${opId}`, (TIMEOUT_S + 60) * 1000, c.follow(opId));
          const lag = (Date.now() - waitingAt) / 1000;
          backLags.push(lag);
          setOffset('+0');
          check(op.state === 'failed' && op.result?.rolledBack === true && op.result.generationAfter === before.current, `op ended ${op.state}: ${op.error}`);
          check(lag <= TIMEOUT_S + 30, `rolled back only ${lag.toFixed(1)} s after the window opened (confirmTimeout ${TIMEOUT_S} s)`);
          const after = await assertProfileIntact(h.profile, bed.env);
          check(after.current === before.current, `profile on ${after.current}, expected ${before.current}`);
        });
        setOffset('+0');
      }
    } finally {
      setOffset('+0');
      bed.setHook('h1', null);
      c.close();
      await stopAllAgents();
      killWorkers(h.stateDir);
      await bed.cleanup();
    }
    return tally.outcome(backLags.length ? `wall clock stepped ±${HOURS} h mid-op; unconfirmed generation rolled back ${Math.min(...backLags).toFixed(1)}-${Math.max(...backLags).toFixed(1)} s after the window opened (confirmTimeout ${TIMEOUT_S} s)` : undefined);
  },
};
