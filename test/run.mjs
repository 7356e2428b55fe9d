// `npm test`: installs what the tests need (scripts/setup.sh; npm ci when node_modules is
// missing or stale), builds, then runs every suite and prints one closing line
// `N passed, N failed`. Suites:
//   unit, integration        node's test runner over test/{unit,integration}/**/*.test.ts (real Nix, real git)
//   integration-nix-current  the integration tests that drive Nix (NIX_CURRENT_TESTS below), again
//                            on current Nix: Debian 13's Nix 2.26 in a cached chroot
//                            (scripts/nix-current.sh), the checkout bind-mounted
//   typecheck                tsc --noEmit over the whole project (strict), counted as one test
//   reliability              the fault and bad-input scenarios, test/reliability/*.test.ts, in their quick
//                            form unless --full (`npm run reliability` is `npm test -- reliability --full`)
//   e2e                      the extension inside a real VS Code (code-server + Chromium), see test/e2e/
// `npm test -- unit` (or typecheck, integration, integration-nix-current, reliability, e2e)
// runs only the named suites. Reliability options: --quick | --full (the last one given wins;
// quick by default), --only=NAME[,NAME], --seed=N.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { ensureDependencies } from '../scripts/ensure-deps.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const all = ['typecheck', 'unit', 'integration', 'integration-nix-current', 'reliability', 'e2e'];
// What the reliability suite reads (test/reliability/reliability.test.ts).
const reliabilityEnv = { NIXFLEET_RELIABILITY_FORM: 'quick' };
for (const a of process.argv.slice(2).filter((x) => x.startsWith('-'))) {
  if (a === '--quick' || a === '--full') reliabilityEnv.NIXFLEET_RELIABILITY_FORM = a.slice(2);
  else if (/^--only=[a-z0-9-]+(,[a-z0-9-]+)*$/.test(a)) reliabilityEnv.NIXFLEET_RELIABILITY_ONLY = a.slice('--only='.length);
  else if (/^--seed=[0-9]{1,10}$/.test(a)) reliabilityEnv.NIXFLEET_RELIABILITY_SEED = a.slice('--seed='.length);
  else {
    console.error(`unknown option "${a}": the options are --quick, --full, --only=NAME[,NAME] and --seed=N (for the reliability suite)`);
    process.exit(2);
  }
}
for (const w of wanted) {
  if (!all.includes(w)) {
    console.error(`unknown suite "${w}": choose from ${all.join(', ')}`);
    process.exit(2);
  }
}
const suites = wanted.length ? wanted : all;
// What each suite needs from scripts/setup.sh (cheap checks when it is all there).
const setupParts = {
  typecheck: [],
  unit: ['nix'],
  integration: ['packages', 'nats-2.10'],
  'integration-nix-current': ['nix', 'nix-current'],
  reliability: ['packages', 'nats-2.10'],
  e2e: ['packages', 'tools'],
};
// The integration tests that switch, roll back, build and update flakes through Nix, run a
// second time on Nix 2.26 (~3 min on the busy 2-core machine): Nix's own commands and profile
// formats are what differs between versions; the rest of the suite does not reach Nix differently.
const NIX_CURRENT_TESTS = (name) =>
  /^nix-.*\.test\.ts$/.test(name) || ['agent-cli.test.ts', 'agent-durability.test.ts', 'rebuild-smart-inputs.test.ts'].includes(name);
const natsServer210 = path.join(process.env.NIXFLEET_CACHE_DIR || '/var/cache/nixfleet', 'nats-server-2.10/nats-server');

function findTests(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return findTests(p);
    return name.endsWith('.test.ts') ? [p] : [];
  });
}

function run(cmd, args, env = {}) {
  const base = existsSync(natsServer210) ? { NIXFLEET_NATS_SERVER_2_10: natsServer210 } : {};
  return spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...base, ...process.env, ...env } });
}

function closeFailed() {
  console.log('0 passed, 1 failed');
  process.exit(1);
}

if (!ensureDependencies(root, 'npm test')) closeFailed();
const parts = [...new Set(suites.flatMap((s) => setupParts[s]))];
if (parts.length && run('bash', [path.join(root, 'scripts/setup.sh'), ...parts]).status !== 0) closeFailed();
const hostNix = spawnSync('nix', ['--version'], { encoding: 'utf8' }).stdout?.trim();
if (hostNix) console.log(`npm test: ${hostNix} on this machine`);

if (run(process.execPath, ['scripts/build.mjs']).status !== 0) closeFailed();

let passed = 0;
let failed = 0;
const artifacts = path.join(root, '.test-artifacts');
mkdirSync(artifacts, { recursive: true });

for (const suite of suites) {
  if (suite === 'typecheck') {
    const r = run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', '.']);
    console.log(`typecheck: ${r.status === 0 ? 'ok' : 'FAILED (see the errors above)'}`);
    if (r.status === 0) passed++;
    else failed++;
    continue;
  }
  if (suite === 'e2e') {
    // The e2e runner counts its own tests and writes {passed, failed} to the file we name.
    const summary = path.join(artifacts, `${suite}-summary.json`);
    rmSync(summary, { force: true });
    const r = run(process.execPath, [path.join(root, 'test/e2e/run.mjs')], { NIXFLEET_E2E_SUMMARY: summary });
    const s = existsSync(summary) ? JSON.parse(readFileSync(summary, 'utf8')) : { passed: 0, failed: 1 };
    if (r.status !== 0 && s.failed === 0) s.failed = 1;
    passed += s.passed;
    failed += s.failed;
    continue;
  }
  const nixCurrent = suite === 'integration-nix-current';
  const files = nixCurrent
    ? findTests(path.join(root, 'test/integration')).filter((f) => NIX_CURRENT_TESTS(path.basename(f))).sort()
    : findTests(path.join(root, 'test', suite)).sort();
  if (!files.length) continue;
  const tap = path.join(artifacts, `${suite}.tap`);
  rmSync(tap, { force: true });
  const testArgs = [
    '--import', 'tsx',
    '--test',
    // A reliability scenario's full form runs its trials for longer than any one unit test.
    `--test-timeout=${suite === 'reliability' ? 3_600_000 : 300_000}`,
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`,
    ...files,
  ];
  let r;
  if (nixCurrent) {
    // Inside the chroot: its own node and Nix 2.26, this checkout at the same path.
    const inside = spawnSync('bash', [path.join(root, 'scripts/nix-current.sh'), 'version'], { encoding: 'utf8' }).stdout?.trim();
    console.log(`npm test: ${suite} runs on ${inside || 'the Nix 2.26 chroot (nix --version failed inside)'} (Debian 13 chroot; this machine has ${hostNix || 'no nix'})`);
    r = run('bash', [path.join(root, 'scripts/nix-current.sh'), 'run', 'node', ...testArgs], { NIXFLEET_REPO_ROOT: root });
  } else {
    r = run(process.execPath, testArgs, { NIXFLEET_REPO_ROOT: root, ...(suite === 'reliability' ? reliabilityEnv : {}) });
  }
  const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  const p = Number(/^# pass (\d+)/m.exec(text)?.[1] ?? 0);
  const f = Number(/^# fail (\d+)/m.exec(text)?.[1] ?? 0) + Number(/^# cancelled (\d+)/m.exec(text)?.[1] ?? 0);
  passed += p;
  failed += f || (r.status !== 0 ? 1 : 0);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
