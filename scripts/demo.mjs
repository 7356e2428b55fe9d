#!/usr/bin/env node
// `npm start`: try NixFleet on this machine in one command.
//   npm start                builds everything, creates a demo fleet of 3 hosts on the real Nix
//                            test bed (each with its own agent on loopback and its own token),
//                            opens VS Code (your `code`, else code-server in the browser) with
//                            the extension installed and the demo nixcfg open; Ctrl-C cleans up.
//   npm start -- --check     sets up the same fleet, runs every command of the extension through
//                            its client core (scripts/demo/check.ts), one line per command, each
//                            confirmed on disk or in the agent's journal, tears down; exit 0 only
//                            if all passed.
//   npm start -- --help
// Environment: NIXFLEET_DEMO_EDITOR=code|code-server picks the editor; NIXFLEET_DEMO_INSTALL_NIX=0
// never installs Nix (by default, as root on Debian, a missing Nix is installed with
// `scripts/setup.sh nix`); NIXFLEET_DEMO_SKIP_BUILD=1 uses the existing dist/ (the tests, which
// build first and must not rewrite dist/agent.js under agents other tests run). A missing or
// stale node_modules is installed first (npm ci).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDependencies } from './ensure-deps.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const usage = 'usage: npm start [-- --check]   (see README.md, "Try it")';
for (const a of args) {
  if (a === '--help' || a === '-h') {
    console.log(usage);
    process.exit(0);
  }
  if (a !== '--check') {
    console.error(`demo: unknown argument "${a}"\n${usage}`);
    process.exit(2);
  }
}
const check = args.includes('--check');
const started = Date.now();
const log = (msg) => console.log(`demo: ${msg}`);
const fail = (msg) => {
  console.error(`demo: ${msg}`);
  process.exit(1);
};

if (!ensureDependencies(root, 'demo')) process.exit(1);

// ---- Nix ---------------------------------------------------------------------------------
function nixWorks() {
  const v = spawnSync('nix', ['--version'], { encoding: 'utf8' });
  if (v.error) return { ok: false, missing: true, why: 'nix is not installed (no `nix` on PATH)' };
  const e = spawnSync('nix', ['eval', '--raw', '--expr', '"ok"'], { encoding: 'utf8', timeout: 60_000 });
  if (e.status !== 0) return { ok: false, missing: false, why: (e.stderr || '').trim().split('\n').slice(-3).join(' ') };
  const flakes = spawnSync('nix', ['flake', 'metadata', '--help'], { encoding: 'utf8' });
  if (flakes.status !== 0) return { ok: false, missing: false, why: 'flakes are not enabled' };
  return { ok: true, version: v.stdout.trim() };
}

function howToGetNix(why) {
  const debian = existsSync('/etc/debian_version');
  return [
    `NixFleet's demo runs a real fleet on real Nix, and Nix is not usable here: ${why}.`,
    debian
      ? 'On Debian/Ubuntu: sudo bash scripts/setup.sh nix   (installs nix-bin, git and jq, writes /etc/nix/nix.conf with flakes on), then run npm start as root or with the Nix daemon set up.'
      : 'Install Nix with the official installer from https://nixos.org/download, then enable flakes: add "experimental-features = nix-command flakes" to ~/.config/nix/nix.conf.',
    'Then run npm start again.',
  ].join('\n  ');
}

let nix = nixWorks();
if (!nix.ok && process.env.NIXFLEET_DEMO_INSTALL_NIX !== '0' && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
  log(`Nix is not ready (${nix.why}); setting it up with scripts/setup.sh nix (Debian's nix-bin, single-user root store)`);
  const r = spawnSync('bash', [path.join(root, 'scripts/setup.sh'), 'nix'], { stdio: 'inherit' });
  if (r.status === 0) nix = nixWorks();
}
if (!nix.ok) fail(howToGetNix(nix.why));
for (const tool of ['git', 'nix-env']) {
  if (spawnSync(tool, ['--version'], { encoding: 'utf8' }).error) fail(`${tool} is not on PATH; install it (Debian: apt-get install ${tool === 'git' ? 'git' : 'nix-bin'}) and run npm start again`);
}
log(`using ${nix.version}`);

// ---- build -----------------------------------------------------------------------------
if (process.env.NIXFLEET_DEMO_SKIP_BUILD === '1') {
  if (!existsSync(path.join(root, 'dist/agent.js'))) fail('NIXFLEET_DEMO_SKIP_BUILD=1 but dist/agent.js does not exist; run npm run build');
} else {
  log('building dist/agent.js and dist/extension.js');
  if (spawnSync(process.execPath, [path.join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' }).status !== 0) {
    fail('the build failed (see above)');
  }
}

// TypeScript modules (the test bed, the agent client) run through tsx.
const { register } = await import('tsx/esm/api');
register();
const { createDemoFleet, freePort, stopChild } = await import('./demo/fleet.ts');

const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-demo-'));
let fleet = null;
let stopFleet = null; // set as soon as the fleet has something to tear down
let editorProc = null;
let cleaning = null;
async function cleanup() {
  cleaning ??= (async () => {
    if (editorProc?.child) await stopChild(editorProc.child).catch(() => {});
    if (stopFleet) await stopFleet().catch((err) => console.error(`demo: cleanup: ${err.message}`));
    rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`${sig}: stopping the agents${editorProc ? ` and ${editorProc.kind}` : ''}, removing the demo's temp dirs`);
    cleanup().finally(() => process.exit(130));
  });
}

try {
  fleet = await createDemoFleet({ root, log, onStop: (stop) => (stopFleet = stop) });
  const setupSecs = ((Date.now() - started) / 1000).toFixed(1);
  for (const h of fleet.hosts) log(`  ${h.name.padEnd(9)} ${h.platform.padEnd(12)} agent on ${h.address}  (config ${h.config})`);

  if (check) {
    const { checkFleet, expectedChecks } = await import('./demo/check.ts');
    log('checking every command of the extension through its client core (one line per command, each confirmed on disk or in the journal)');
    const checksStarted = Date.now();
    const results = await checkFleet(fleet, (r) => console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail} [${(r.ms / 1000).toFixed(1)} s]`));
    const failed = results.filter((r) => !r.ok).length;
    const expected = expectedChecks(fleet);
    const checkSecs = ((Date.now() - checksStarted) / 1000).toFixed(1);
    await cleanup();
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    if (failed === 0 && results.length === expected) {
      log(`all ${results.length} checks passed in ${secs} s (set-up ${setupSecs} s, checks ${checkSecs} s)`);
      process.exit(0);
    }
    fail(`${failed} of ${results.length} checks failed${results.length !== expected ? ` (${expected - results.length} not reached)` : ''} in ${secs} s`);
  }

  const { chooseEditor, ensureTools, packageExtensions, launchEditor } = await import('./demo/editor.mjs');
  const editor = chooseEditor();
  const tools = ensureTools(root, log);
  log('packaging the extension (vsce)');
  const vsixes = packageExtensions(root, tools.vsce, path.join(dir, 'vsix'));
  editorProc = await launchEditor({ root, dir: path.join(dir, 'editor'), workspace: fleet.workspace, hosts: fleet.hosts, editor, tools, vsixes, log, freePort });
  const { whereThingsAre, whatToTry } = await import('./demo/whatToTry.ts');
  console.log(`
NixFleet demo is running (${((Date.now() - started) / 1000).toFixed(0)} s to set up).
${editorProc.url ? `  Open ${editorProc.url} in your browser (code-server, loopback only).` : '  A VS Code window opened with the demo nixcfg (a private profile: your own VS Code is untouched).'}

${whereThingsAre(fleet)}

${whatToTry(fleet)}

Ctrl-C stops the agents${editorProc.kind === 'code-server' ? ' and code-server' : ''} and removes the demo's temp dirs.${editorProc.kind === 'code' ? ' Close the demo VS Code window too.' : ''}
`);
  // Stay up until Ctrl-C (or the editor goes away).
  await new Promise((resolve) => editorProc.child.once('exit', resolve));
  log(`${editorProc.kind} exited`);
  await cleanup();
  process.exit(0);
} catch (err) {
  console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
  await cleanup();
  process.exit(1);
}
