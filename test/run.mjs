// `npm test`: builds, then runs every suite and prints one closing line
// `N passed, N failed`. Suites:
//   unit, integration  node's test runner over test/{unit,integration}/**/*.test.ts (real Nix, real git)
//   typecheck          tsc --noEmit over the whole project (strict), counted as one test
//   reliability        the fault and bad-input suite's quick form (`npm run reliability -- --quick`)
//   e2e                the extension inside a real VS Code (code-server + Chromium), see test/e2e/
// `npm test -- unit` (or typecheck, integration, reliability, e2e) runs only the named suites.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const all = ['typecheck', 'unit', 'integration', 'reliability', 'e2e'];
for (const w of wanted) {
  if (!all.includes(w)) {
    console.error(`unknown suite "${w}": choose from ${all.join(', ')}`);
    process.exit(2);
  }
}
const suites = wanted.length ? wanted : all;

function findTests(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return findTests(p);
    return name.endsWith('.test.ts') ? [p] : [];
  });
}

function run(cmd, args, env = {}) {
  return spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
}

// The tests run real Nix: on a fresh Debian machine (as root) this installs nix-bin and
// writes a working nix.conf; elsewhere it says what to install. Cheap when all is there.
if (suites.some((s) => s !== 'typecheck')) {
  const nix = run('bash', ['scripts/setup-nix.sh']);
  if (nix.status !== 0) {
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

const build = run(process.execPath, ['scripts/build.mjs']);
if (build.status !== 0) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}

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
  if (suite === 'e2e' || suite === 'reliability') {
    // These runners count their own tests and write {passed, failed} to the file we name.
    const [runner, args, envName] =
      suite === 'e2e'
        ? [path.join(root, 'test/e2e/run.mjs'), [], 'NIXFLEET_E2E_SUMMARY']
        : [path.join(root, 'test/reliability/run.ts'), ['--quick', '--no-build'], 'NIXFLEET_RELIABILITY_SUMMARY'];
    const summary = path.join(artifacts, `${suite}-summary.json`);
    rmSync(summary, { force: true });
    const node = runner.endsWith('.ts') ? ['--import', 'tsx', runner] : [runner];
    const r = run(process.execPath, [...node, ...args], { [envName]: summary });
    const s = existsSync(summary) ? JSON.parse(readFileSync(summary, 'utf8')) : { passed: 0, failed: 1 };
    if (r.status !== 0 && s.failed === 0) s.failed = 1;
    passed += s.passed;
    failed += s.failed;
    continue;
  }
  const files = findTests(path.join(root, 'test', suite)).sort();
  if (!files.length) continue;
  const tap = path.join(artifacts, `${suite}.tap`);
  const r = run(process.execPath, [
    '--import', 'tsx',
    '--test',
    '--test-timeout=300000',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`,
    ...files,
  ], { NIXFLEET_REPO_ROOT: root });
  const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  const p = Number(/^# pass (\d+)/m.exec(text)?.[1] ?? 0);
  const f = Number(/^# fail (\d+)/m.exec(text)?.[1] ?? 0) + Number(/^# cancelled (\d+)/m.exec(text)?.[1] ?? 0);
  passed += p;
  failed += f || (r.status !== 0 ? 1 : 0);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
