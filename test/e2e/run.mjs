// The e2e suite: the NixFleet extension inside a real VS Code (code-server, VS Code's own
// server and web workbench, whose extension host is VS Code's real Node extension host),
// against real agents on the real-Nix test bed, driven by Debian's headless Chromium.
//
//   node test/e2e/run.mjs          (test/run.mjs calls it with NIXFLEET_E2E_SUMMARY set)
//
// Two phases, each with its own fresh test bed, agents and code-server (so neither sees the
// other's changes):
//   ui     UI tests in Chromium (test/e2e/ui/*.mjs), one pass/fail each
//   mocha  the extension's own mocha suite (test/extension, built by
//          scripts/build-extension-tests.mjs) inside the extension host via the workbench's
//          `payload` route; its pass/fail counts are added
// Writes {passed, failed, tests, mocha, timings} to $NIXFLEET_E2E_SUMMARY (if set), screenshots
// to .test-artifacts/screenshots/, logs to .test-artifacts/e2e/.
//
// Environment: NIXFLEET_E2E_ONLY=ui|mocha (one phase), NIXFLEET_E2E_KEEP=1 (keep temp dirs),
// NIXFLEET_E2E_GREP=TEXT (only UI tests whose name contains TEXT), NIXFLEET_E2E_ARTIFACTS=DIR.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { launchChromium, sel } from './lib/browser.mjs';
import { CodeServer } from './lib/codeServer.mjs';
import { Fleet } from './lib/fleet.mjs';
import { GitHubServer } from './lib/github.mjs';
import { killAllNow, stopAll, waitFor } from './lib/procs.mjs';
import { clearNotifications } from './lib/workbench.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const toolsDir = path.join(root, '.tools');
// NIXFLEET_E2E_ARTIFACTS: another folder for screenshots and logs (e.g. for a second run at
// the same time as `npm test`, which uses .test-artifacts/).
const artifacts = path.resolve(process.env.NIXFLEET_E2E_ARTIFACTS || path.join(root, '.test-artifacts'));
const shotsDir = path.join(artifacts, 'screenshots');
const logsDir = path.join(artifacts, 'e2e');
const EXTENSION_ID = 'nixfleet.nixfleet';
const TOTAL_TIMEOUT_MS = 9 * 60 * 1000;
const UI_TEST_TIMEOUT_MS = 90_000;
const MOCHA_TIMEOUT_MS = 5 * 60 * 1000;
const keep = process.env.NIXFLEET_E2E_KEEP === '1';
const only = process.env.NIXFLEET_E2E_ONLY;
const grep = process.env.NIXFLEET_E2E_GREP;
if (only && only !== 'ui' && only !== 'mocha') {
  console.error(`NIXFLEET_E2E_ONLY must be "ui" or "mocha", not "${only}"`);
  process.exit(2);
}

const started = Date.now();
const tests = []; // { name, ok, error?, ms }
const mocha = { passed: 0, failed: 0, failures: [], error: null };
const timings = {};
const cleanups = []; // async functions, run in reverse order
let browser = null;
let browserHome = null; // Chromium's HOME/XDG dirs, removed at the very end
let finished = false;

function log(msg) {
  console.log(`e2e: ${msg}`);
}

function record(name, ok, error, ms) {
  tests.push({ name, ok, ...(error ? { error } : {}), ms });
  log(`${ok ? 'ok  ' : 'FAIL'} ${name} (${ms} ms)${error ? `\n       ${error.split('\n').join('\n       ')}` : ''}`);
}

function writeSummary() {
  const passed = tests.filter((t) => t.ok).length + mocha.passed;
  const failed = tests.filter((t) => !t.ok).length + mocha.failed;
  const summary = { passed, failed, tests, mocha, timings, seconds: Math.round((Date.now() - started) / 1000) };
  mkdirSync(logsDir, { recursive: true });
  writeFileSync(path.join(logsDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  if (process.env.NIXFLEET_E2E_SUMMARY) writeFileSync(process.env.NIXFLEET_E2E_SUMMARY, JSON.stringify(summary) + '\n');
  return summary;
}

async function teardown() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await Promise.race([fn(), new Promise((r) => setTimeout(r, 10_000))]);
    } catch (err) {
      log(`teardown: ${err.message}`);
    }
  }
  if (browser) await browser.close().catch(() => {});
  browser = null;
  await stopAll();
}

async function finish(code) {
  if (finished) return;
  finished = true;
  await teardown();
  if (browserHome) rmSync(browserHome, { recursive: true, force: true });
  const s = writeSummary();
  log(`${s.passed} passed, ${s.failed} failed in ${s.seconds} s (UI tests ${tests.filter((t) => t.ok).length}/${tests.length}, extension-host mocha ${mocha.passed} passed ${mocha.failed} failed)`);
  process.exit(code ?? (s.failed === 0 && s.passed > 0 ? 0 : 1));
}

process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    record(`e2e run`, false, `interrupted by ${sig}`, Date.now() - started);
    void finish(1);
  });
}
const watchdog = setTimeout(() => {
  record('e2e run', false, `the e2e run did not finish within ${TOTAL_TIMEOUT_MS / 1000} s; everything was torn down`, Date.now() - started);
  void finish(1);
}, TOTAL_TIMEOUT_MS);
watchdog.unref();

function timed(name, fn) {
  const t0 = Date.now();
  return Promise.resolve(fn()).finally(() => {
    timings[name] = Date.now() - t0;
  });
}

function sh(what, cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: 600_000, ...opts });
  if (r.error || r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().slice(-3000);
    throw new Error(`${what} failed (${r.error ? r.error.message : `exit ${r.status}`}): ${out}`);
  }
  return r.stdout;
}

/** Install code-server and playwright-core if missing (fast no-op when present); vsce is a devDependency. */
function ensureTools() {
  sh('scripts/install-test-tools.sh', 'bash', [path.join(root, 'scripts/install-test-tools.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
}

/**
 * Package the extension like `npm run package` does: vsce with --no-dependencies, honouring
 * the project's .vscodeignore. vsce walks every file under its folder before applying the
 * ignore rules, and .tools/ alone holds ~450 MB, so it runs on a copy of the project without
 * the heavy folders that are never part of the package.
 */
function packageVsix(outDir) {
  const stage = path.join(outDir, 'package-stage');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  const skip = new Set(['node_modules', '.tools', '.git', '.test-artifacts', '.bench-results', 'out']);
  for (const name of readdirSync(root)) {
    if (skip.has(name) || name.endsWith('.vsix')) continue;
    cpSync(path.join(root, name), path.join(stage, name), { recursive: true });
  }
  const ignore = existsSync(path.join(stage, '.vscodeignore')) ? [] : ['--ignoreFile', path.join(here, 'fallback.vscodeignore')];
  const vsix = path.join(outDir, 'nixfleet.vsix');
  sh('vsce package', path.join(root, 'node_modules/.bin/vsce'), [
    'package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '--no-rewrite-relative-links', ...ignore, '-o', vsix,
  ], { cwd: stage, stdio: ['ignore', 'pipe', 'pipe'] });
  rmSync(stage, { recursive: true, force: true });
  return vsix;
}

const baseSettings = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
  'git.openRepositoryInParentFolders': 'never',
  'window.title': 'NixFleet e2e',
};

/** Open the workbench with a test runner in the extension host; resolves the exit code. */
async function openWorkbench(context, cs, phaseDir, tests) {
  const page = await context.newPage();
  const consoleLog = path.join(phaseDir, 'browser-console.log');
  const lines = [];
  page.on('console', (m) => lines.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => lines.push(`[pageerror] ${e.message}`));
  cleanups.push(async () => writeFileSync(consoleLog, lines.join('\n') + '\n'));
  let resolveExit;
  const exited = new Promise((r) => (resolveExit = r));
  await page.exposeFunction('codeAutomationExit', (code) => resolveExit(Number(code)));
  await page.exposeFunction('codeAutomationLog', (type, args) => lines.push(`[ext-host ${type}] ${JSON.stringify(args)}`));
  await page.goto(cs.url({ tests }), { timeout: 30_000 });
  await page.waitForSelector(sel.activityBar, { timeout: 30_000 });
  return { page, exited, consoleLines: lines };
}

async function withTimeout(promise, ms, what) {
  let timer;
  try {
    return await Promise.race([promise, new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`${what} did not finish within ${ms / 1000} s`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function uiPhase(context, vsix) {
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-e2e-ui-'));
  if (!keep) cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const fleet = new Fleet({ root, dir, keep });
  cleanups.push(() => fleet.stop());
  await timed('ui.bed', () => fleet.create());
  const agentErrors = await timed('ui.agents', () => fleet.startAgents());
  for (const e of agentErrors) log(e);

  // The GitHub TEST server over the bed's bare origin (ui/07-github): the extension reaches
  // it through nixfleet.github.apiUrl, as it would a GitHub Enterprise server.
  const ghUser = { login: 'alice-e2e', id: 4242, name: 'Alice E2E', email: 'alice-e2e@example.invalid' };
  const ghToken = `ghp_e2e${randomBytes(16).toString('hex')}`;
  const github = new GitHubServer({ root, gitDir: fleet.bed.origin, owner: 'acme', repo: 'nixcfg', users: { [ghToken]: ghUser }, logFile: path.join(dir, 'github-test-server.log') });
  cleanups.push(() => github.stop());
  await timed('ui.github-server', () => github.start());

  const bridgeDir = path.join(dir, 'bridge');
  mkdirSync(bridgeDir);
  const cs = new CodeServer({
    toolsDir,
    dir: path.join(dir, 'code-server'),
    settings: {
      ...baseSettings,
      'nixfleet.hosts': fleet.hostsSetting(),
      // ui/06-deploy: h1 then h2 go first, one at a time, so a failure on h2 leaves alice@h3
      // not attempted.
      'nixfleet.deploy.canaryHosts': ['h1', 'h2'],
      'nixfleet.github.apiUrl': github.baseUrl,
    },
    // Trust stays off through 'security.workspace.trust.enabled': false in the settings until
    // ui/08-trust turns it on and reloads the window into Restricted Mode.
    workspaceTrust: true,
    env: {
      PATH: fleet.bed.path,
      NIXFLEET_E2E_HOSTS: JSON.stringify(fleet.e2eHosts()),
      NIXFLEET_E2E_BRIDGE_DIR: bridgeDir,
    },
  });
  cleanups.push(async () => {
    await cs.stop();
    cpSync(cs.logFile, path.join(logsDir, 'ui-code-server.log'));
  });
  const installed = await timed('ui.install-extension', () => cs.installExtension(vsix, EXTENSION_ID));
  await timed('ui.code-server-start', () => cs.start(fleet.bed.workstation));

  // 1. The bridge hands the tokens to the extension inside the extension host.
  const t0 = Date.now();
  const { page, exited } = await openWorkbench(context, cs, dir, {
    extensionDevelopmentPath: installed.folder,
    extensionTestsPath: path.join(here, 'ui-bridge.cjs'),
  });
  timings['ui.workbench-load'] = Date.now() - t0;
  const code = await withTimeout(exited, 60_000, 'the UI bridge (tokens to the extension)');
  const bridgeFile = path.join(bridgeDir, 'ready');
  const bridge = existsSync(bridgeFile) ? JSON.parse(readFileSync(bridgeFile, 'utf8')) : { extension: null, activated: false, tokens: [], errors: ['the bridge wrote no report'] };
  if (code !== 0) log(`warning: the UI bridge ended with exit code ${code}: ${bridge.errors.join('; ')}`);
  timings['ui.bridge'] = Date.now() - t0;
  // 2. The workbench as a user has it: the installed extension, no test runner.
  const t1 = Date.now();
  await page.goto(cs.url(), { timeout: 30_000 });
  await page.waitForSelector(sel.activityBar, { timeout: 30_000 });
  timings['ui.workbench-reload'] = Date.now() - t1;

  const ctx = {
    page,
    fleet,
    cs,
    github: { server: github, token: ghToken, user: ghUser, owner: 'acme', repo: 'nixcfg' },
    bridge,
    installed,
    agentErrors,
    shotsDir,
    async shot(name) {
      const file = path.join(shotsDir, `${name}.png`);
      await page.screenshot({ path: file, timeout: 15_000 });
      return file;
    },
  };
  const files = readdirSync(path.join(here, 'ui')).filter((f) => f.endsWith('.mjs')).sort();
  for (const f of files) {
    const mod = await import(pathToFileURL(path.join(here, 'ui', f)).href);
    for (const t of mod.default) {
      if (grep && !t.name.includes(grep)) continue;
      const t1 = Date.now();
      try {
        // Each test starts without the toasts earlier tests left (they can hide its own).
        await clearNotifications(page).catch(() => {});
        await withTimeout(t.run(ctx), t.timeoutMs ?? UI_TEST_TIMEOUT_MS, `UI test "${t.name}"`);
        record(t.name, true, null, Date.now() - t1);
      } catch (err) {
        const slug = t.name.replace(/[^A-Za-z0-9]+/g, '-').toLowerCase();
        await ctx.shot(`FAILED-${slug}`).catch(() => {});
        record(t.name, false, err.message, Date.now() - t1);
        // A failed test may leave a menu, palette or dialog open: close it for the next.
        for (let i = 0; i < 3; i++) await page.keyboard.press('Escape').catch(() => {});
      }
    }
  }
  await page.close();
}

async function mochaPhase(context) {
  const t0 = Date.now();
  const builder = path.join(root, 'scripts/build-extension-tests.mjs');
  const index = path.join(root, 'out/extension-tests/index.js');
  try {
    if (!existsSync(builder)) {
      throw new Error('scripts/build-extension-tests.mjs (helper C, test/extension) does not exist yet, so there is no mocha suite to run in the extension host');
    }
    sh('scripts/build-extension-tests.mjs', process.execPath, [builder], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    if (!existsSync(index)) throw new Error(`scripts/build-extension-tests.mjs did not produce ${index}`);
  } catch (err) {
    mocha.failed += 1;
    mocha.error = err.message;
    log(`FAIL extension-host mocha suite: ${err.message}`);
    return;
  }
  timings['mocha.build'] = Date.now() - t0;

  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-e2e-mocha-'));
  if (!keep) cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const fleet = new Fleet({ root, dir, keep });
  cleanups.push(() => fleet.stop());
  await timed('mocha.bed', () => fleet.create());
  const agentErrors = await timed('mocha.agents', () => fleet.startAgents());
  for (const e of agentErrors) log(e);
  const results = path.join(dir, 'mocha-results.json');
  const cs = new CodeServer({
    toolsDir,
    dir: path.join(dir, 'code-server'),
    settings: { ...baseSettings },
    env: {
      PATH: fleet.bed.path,
      NIXFLEET_E2E_HOSTS: JSON.stringify(fleet.e2eHosts()),
      NIXFLEET_EXT_TEST_RESULTS: results,
      ...(process.env.NIXFLEET_EXT_TEST_GREP ? { NIXFLEET_EXT_TEST_GREP: process.env.NIXFLEET_EXT_TEST_GREP } : {}),
    },
  });
  cleanups.push(async () => {
    await cs.stop();
    cpSync(cs.logFile, path.join(logsDir, 'mocha-code-server.log'));
  });
  const installed = cs.installExtension(globalThis.vsixPath, EXTENSION_ID);
  await cs.start(fleet.bed.workstation);
  const t1 = Date.now();
  const { page, exited } = await openWorkbench(context, cs, dir, {
    extensionDevelopmentPath: installed.folder,
    extensionTestsPath: index,
  });
  let code;
  try {
    code = await withTimeout(exited, MOCHA_TIMEOUT_MS, 'the mocha suite in the extension host');
  } catch (err) {
    await page.screenshot({ path: path.join(shotsDir, 'FAILED-mocha-timeout.png') }).catch(() => {});
    mocha.failed += 1;
    mocha.error = err.message;
    log(`FAIL extension-host mocha suite: ${err.message}`);
    return;
  } finally {
    timings['mocha.run'] = Date.now() - t1;
  }
  await page.screenshot({ path: path.join(shotsDir, 'mocha-end.png') }).catch(() => {});
  if (!existsSync(results)) {
    mocha.failed += 1;
    mocha.error = `the suite ended with exit code ${code} but wrote no results to NIXFLEET_EXT_TEST_RESULTS (${results})`;
    log(`FAIL extension-host mocha suite: ${mocha.error}`);
    return;
  }
  const r = JSON.parse(readFileSync(results, 'utf8'));
  cpSync(results, path.join(logsDir, 'mocha-results.json'));
  mocha.passed = Number(r.passed) || 0;
  mocha.failed = Number(r.failed) || 0;
  mocha.failures = Array.isArray(r.failures) ? r.failures : [];
  if (code !== 0 && mocha.failed === 0) {
    mocha.failed = 1;
    mocha.error = `the suite ended with exit code ${code} although its results show no failure`;
  }
  log(`extension-host mocha suite: ${mocha.passed} passed, ${mocha.failed} failed (exit code ${code})`);
  for (const f of mocha.failures) log(`  FAIL ${f.title}: ${f.error}`);
  await page.close();
}

async function main() {
  mkdirSync(shotsDir, { recursive: true });
  rmSync(logsDir, { recursive: true, force: true });
  mkdirSync(logsDir, { recursive: true });
  for (const f of readdirSync(shotsDir)) if (f.endsWith('.png')) rmSync(path.join(shotsDir, f));

  await timed('tools', () => ensureTools());
  // test/run.mjs has built already; a direct run builds here (esbuild, about a second).
  if (!process.env.NIXFLEET_E2E_SUMMARY || !existsSync(path.join(root, 'dist/extension.js'))) {
    sh('npm run build', process.execPath, [path.join(root, 'scripts/build.mjs')]);
  }
  const vsix = await timed('vsix', () => packageVsix(logsDir));
  globalThis.vsixPath = vsix;
  browserHome = mkdtempSync(path.join(tmpdir(), 'nixfleet-e2e-chromium-'));
  browser = await timed('chromium', () => launchChromium(toolsDir, browserHome));
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });

  if (!only || only === 'ui') {
    try {
      await uiPhase(context, vsix);
    } catch (err) {
      record('UI phase setup', false, err.stack || err.message, 0);
    }
    // Stop this phase's agents and code-server before the next one starts.
    await teardown();
    browser = await launchChromium(toolsDir, browserHome);
  }
  if (!only || only === 'mocha') {
    const ctx2 = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    try {
      await mochaPhase(ctx2);
    } catch (err) {
      mocha.failed += 1;
      mocha.error = err.stack || err.message;
      log(`FAIL extension-host mocha suite: ${mocha.error}`);
    }
  }
  await finish();
}

main().catch((err) => {
  record('e2e harness', false, err.stack || err.message, Date.now() - started);
  void finish(1);
});
