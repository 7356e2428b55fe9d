// The fault and bad-input suite of issue 7, against real agents (dist/agent.js) on loopback
// over the real-Nix test bed: one node:test test per scenario, run by test/run.mjs like the
// unit and integration suites (`npm run reliability [-- --quick] [-- --only=NAME[,NAME]]
// [-- --seed=N]`; `npm test` runs the quick form). Each scenario reports
// `<name>: <trials> trials, <failures> failures` and its figures (`[kill-9] 13.9 s; ...`) as
// diagnostics; progress notes go to stderr.
//
// The form, selection and seed come from the environment test/run.mjs sets:
// NIXFLEET_RELIABILITY_FORM (quick | full), NIXFLEET_RELIABILITY_ONLY (names, comma-separated),
// NIXFLEET_RELIABILITY_SEED.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Scenario, ScenarioContext } from './lib';
import { killScenario } from './scenarios/kill';
import { restartScenario } from './scenarios/restart';
import { cutScenario } from './scenarios/cut';
import { fuzzScenario } from './scenarios/fuzz';
import { authScenario } from './scenarios/auth';
import { injectionScenario } from './scenarios/injection';
import { concurrencyScenario } from './scenarios/concurrency';
import { magicRollbackScenario } from './scenarios/magicRollback';
import { checkRollbackScenario } from './scenarios/checkRollback';
import { slowClientScenario } from './scenarios/slowClient';
import { listenerScenario } from './scenarios/listener';
import { floodScenario } from './scenarios/flood';
import { damagedJournalScenario } from './scenarios/damagedJournal';
import { killSetProfileScenario } from './scenarios/killSetProfile';
import { plantedSymlinksScenario } from './scenarios/plantedSymlinks';
import { clockJumpScenario } from './scenarios/clockJump';
import { brokerKillScenario } from './scenarios/brokerKill';

export const SCENARIOS: Scenario[] = [
  killScenario,
  restartScenario,
  cutScenario,
  fuzzScenario,
  authScenario,
  injectionScenario,
  concurrencyScenario,
  magicRollbackScenario,
  checkRollbackScenario,
  slowClientScenario,
  listenerScenario,
  floodScenario,
  damagedJournalScenario,
  killSetProfileScenario,
  plantedSymlinksScenario,
  clockJumpScenario,
  brokerKillScenario,
];

const form = process.env.NIXFLEET_RELIABILITY_FORM ?? 'quick';
if (form !== 'quick' && form !== 'full') throw new Error(`NIXFLEET_RELIABILITY_FORM is "${form}": set quick or full`);
const only = process.env.NIXFLEET_RELIABILITY_ONLY?.split(',').filter(Boolean);
for (const o of only ?? []) {
  if (!SCENARIOS.some((s) => s.name === o)) throw new Error(`NIXFLEET_RELIABILITY_ONLY names "${o}": choose from ${SCENARIOS.map((s) => s.name).join(', ')}`);
}
const seed = process.env.NIXFLEET_RELIABILITY_SEED ?? String(Date.now() % 2 ** 31);
if (!/^[0-9]{1,10}$/.test(seed)) throw new Error(`NIXFLEET_RELIABILITY_SEED is "${seed}": set a whole number`);
// The scenarios read the seed from here; a failing run names it so it can be replayed.
process.env.NIXFLEET_RELIABILITY_SEED = seed;
// Workers as detached processes, never systemd units, whatever the machine runs.
process.env.NIXFLEET_NO_SYSTEMD = '1';
process.stderr.write(`reliability: ${form} form, seed ${seed} (replay with --seed=${seed})\n`);

for (const s of SCENARIOS.filter((x) => !only || only.includes(x.name))) {
  test(s.name, async (t) => {
    const t0 = Date.now();
    const ctx: ScenarioContext = { quick: form === 'quick', note: (text) => process.stderr.write(`  [${s.name}] ${text}\n`) };
    let outcome;
    try {
      outcome = await s.run(ctx);
    } finally {
      t.diagnostic(`[${s.name}] ${((Date.now() - t0) / 1000).toFixed(1)} s${outcome?.figures ? '; ' + outcome.figures : ''}`);
    }
    t.diagnostic(`${s.name}: ${outcome.trials} trials, ${outcome.failures} failures`);
    assert.ok(outcome.trials > 0, `${s.name} ran no trial: it proves nothing`);
    assert.equal(outcome.failures, 0, `${s.name}: ${outcome.failures} of ${outcome.trials} trials failed (the notes above say why; seed ${seed})`);
  });
}

// A client with a reconnect timer, or an agent left by a failed trial, must not hold the run
// open: the process ends a little after the last test whatever is still pending.
after(() => {
  setTimeout(() => process.exit(), 5_000).unref();
});
