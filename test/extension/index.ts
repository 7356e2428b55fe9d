// extensionTestsPath entry: VS Code (or code-server's payload route) calls run() inside the
// extension host. Runs the mocha suites next to this file and writes
// { passed, failed, failures } to $NIXFLEET_EXT_TEST_RESULTS, because the extension host's
// stdout is not shown anywhere.
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export async function run(): Promise<void> {
  // mocha stays external: resolved from the project's node_modules next to out/.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Mocha = require('mocha') as typeof import('mocha');
  const mocha = new Mocha({ ui: 'bdd', timeout: 180_000, color: false, reporter: 'spec' });
  if (process.env.NIXFLEET_EXT_TEST_GREP) mocha.grep(process.env.NIXFLEET_EXT_TEST_GREP);
  const dir = path.join(__dirname, 'suite');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.test.js')).sort()) mocha.addFile(path.join(dir, f));
  const failures: Array<{ title: string; error: string }> = [];
  let passed = 0;
  const resultsFile = process.env.NIXFLEET_EXT_TEST_RESULTS;
  await new Promise<void>((resolve, reject) => {
    try {
      const runner = mocha.run(() => resolve());
      runner.on('pass', () => passed++);
      runner.on('fail', (test, err: Error) => failures.push({ title: test.fullTitle(), error: String(err?.stack ?? err) }));
    } catch (err) {
      reject(err);
    }
  });
  const results = { passed, failed: failures.length, failures };
  if (resultsFile) writeFileSync(resultsFile, JSON.stringify(results, null, 2) + '\n');
  console.log(`extension tests: ${passed} passed, ${failures.length} failed`);
  if (failures.length) throw new Error(`${failures.length} extension test(s) failed: ${failures.map((f) => f.title).join('; ')}`);
}
