// `npm run reliability [-- --quick] [-- --only=NAME[,NAME]] [-- --seed=N] [-- --no-build]`
//
// The fault and bad-input suite of issue 7, against real agents (dist/agent.js) on
// loopback over the real-Nix test bed. Prints one line per scenario,
// `<test>: <trials> trials, <failures> failures`, then `N passed, N failed`; exits
// non-zero on any failure. Details and figures go to stderr. With env
// NIXFLEET_RELIABILITY_SUMMARY set, writes {passed, failed} there as JSON.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
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

const ROOT = path.resolve(import.meta.dirname, '../..');

const SCENARIOS: Scenario[] = [
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

function usage(message: string): never {
  process.stderr.write(`reliability: ${message}\nusage: npm run reliability [-- --quick] [-- --only=${SCENARIOS.map((s) => s.name).join(',')}] [-- --seed=N] [-- --no-build]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): { quick: boolean; only?: string[]; build: boolean; seed?: number } {
  let quick = false;
  let build = true;
  let only: string[] | undefined;
  let seed: number | undefined;
  for (const a of argv) {
    if (a === '--quick') quick = true;
    else if (a === '--no-build') build = false;
    else if (a.startsWith('--only=')) only = a.slice(7).split(',').filter(Boolean);
    else if (a.startsWith('--seed=') && /^[0-9]{1,10}$/.test(a.slice(7))) seed = Number(a.slice(7));
    else usage(`unknown argument "${a}"`);
  }
  for (const o of only ?? []) if (!SCENARIOS.some((s) => s.name === o)) usage(`unknown scenario "${o}"`);
  return { quick, only, build, seed };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  process.env.NIXFLEET_RELIABILITY_SEED = String(args.seed ?? Date.now() % 2 ** 31);
  // Workers as detached processes, never systemd units, whatever the machine runs.
  process.env.NIXFLEET_NO_SYSTEMD = '1';
  process.env.NIXFLEET_REPO_ROOT = ROOT;
  const started = Date.now();
  process.stderr.write(`reliability: ${args.quick ? 'quick' : 'full'} form, seed ${process.env.NIXFLEET_RELIABILITY_SEED}\n`);
  if (args.build) {
    const b = spawnSync(process.execPath, ['scripts/build.mjs', '--only=agent'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    if (b.status !== 0) {
      process.stdout.write('build: 1 trials, 1 failures\n0 passed, 1 failed\n');
      return 1;
    }
  }
  let passed = 0;
  let failed = 0;
  for (const s of SCENARIOS) {
    if (args.only && !args.only.includes(s.name)) continue;
    const t0 = Date.now();
    const ctx: ScenarioContext = { quick: args.quick, note: (text) => process.stderr.write(`  [${s.name}] ${text}\n`) };
    let trials = 0;
    let failures = 0;
    let figures: string | undefined;
    try {
      ({ trials, failures, figures } = await s.run(ctx));
    } catch (err) {
      // A scenario that could not even set up counts as one failed trial.
      ctx.note(`scenario aborted: ${(err as Error).stack ?? err}`);
      trials = Math.max(trials, 1);
      failures = Math.max(failures, 1);
    }
    if (trials === 0) failures = 1; // a scenario that ran nothing proves nothing
    process.stdout.write(`${s.name}: ${trials} trials, ${failures} failures\n`);
    process.stderr.write(`  [${s.name}] ${((Date.now() - t0) / 1000).toFixed(1)} s${figures ? '; ' + figures : ''}\n`);
    if (failures === 0) passed++;
    else failed++;
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.stderr.write(`reliability: ${((Date.now() - started) / 1000).toFixed(1)} s in all\n`);
  const summary = process.env.NIXFLEET_RELIABILITY_SUMMARY;
  if (summary) writeFileSync(summary, JSON.stringify({ passed, failed }) + '\n');
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Clients with reconnect timers or agents left by a failed trial must not hold the run open.
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`reliability: ${(err as Error).stack ?? err}\n`);
    process.stdout.write('0 passed, 1 failed\n');
    process.exit(1);
  },
);
