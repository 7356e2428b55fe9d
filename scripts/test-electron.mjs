// `npm run test:electron`: the extension-host mocha suite (test/extension) in a desktop
// VS Code downloaded by @vscode/test-electron, against the same real-Nix demo fleet the e2e
// harness uses (test/e2e/lib/fleet.mjs: test bed + one agent per host on loopback).
// For desktops with network access; CI here runs the suite through code-server instead
// (test/e2e/run.mjs), because VS Code cannot be downloaded on these machines.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { Fleet } from '../test/e2e/lib/fleet.mjs';
import { stopAll } from '../test/e2e/lib/procs.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
for (const script of ['scripts/build.mjs', 'scripts/build-extension-tests.mjs']) {
  const r = spawnSync(process.execPath, [path.join(root, script)], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
}

const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-electron-'));
const fleet = new Fleet({ root, dir });
let code = 1;
try {
  await fleet.create();
  const errors = await fleet.startAgents();
  for (const e of errors) console.error(e);
  const results = path.join(dir, 'results.json');
  await runTests({
    version: process.env.NIXFLEET_VSCODE_VERSION ?? 'stable',
    extensionDevelopmentPath: root,
    extensionTestsPath: path.join(root, 'out/extension-tests/index.js'),
    launchArgs: [fleet.bed.workstation, '--disable-extensions', '--disable-workspace-trust', '--user-data-dir', path.join(dir, 'user-data')],
    extensionTestsEnv: {
      PATH: fleet.bed.path,
      NIXFLEET_E2E_HOSTS: JSON.stringify(fleet.e2eHosts()),
      NIXFLEET_EXT_TEST_RESULTS: results,
      ...(process.env.NIXFLEET_EXT_TEST_GREP ? { NIXFLEET_EXT_TEST_GREP: process.env.NIXFLEET_EXT_TEST_GREP } : {}),
    },
  }).then(
    () => (code = 0),
    (err) => console.error(`test:electron: ${err.message ?? err}`),
  );
  if (existsSync(results)) {
    const r = JSON.parse(readFileSync(results, 'utf8'));
    for (const f of r.failures) console.error(`FAIL ${f.title}\n${f.error}\n`);
    console.log(`${r.passed} passed, ${r.failed} failed`);
    if (r.failed) code = 1;
  }
} finally {
  await fleet.stop();
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
