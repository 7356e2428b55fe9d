// `npm start -- --check` end to end (scripts/demo.mjs): the demo fleet on the real Nix test
// bed, its agents, the checks through the extension's agent client, and the teardown. Also
// what a machine without Nix is told.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const root = process.env.NIXFLEET_REPO_ROOT ?? path.resolve(import.meta.dirname, '../..');
const demo = path.join(root, 'scripts/demo.mjs');

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

test('npm start -- --check sets up 3 hosts, checks them all, and tears everything down', async () => {
  // dist/ was built by test/run.mjs (or `npm run build`); rebuilding it here would rewrite
  // dist/agent.js under agents that other test files are running.
  const r = spawnSync(process.execPath, [demo, '--check'], { cwd: root, encoding: 'utf8', env: { ...process.env, NIXFLEET_DEMO_SKIP_BUILD: '1' }, timeout: 240_000 });
  const out = r.stdout + r.stderr;
  assert.equal(r.status, 0, out);
  const hosts = [...out.matchAll(/^demo:\s+(\S+)\s+(nixos|darwin|home-manager)\s+agent on ws:\/\/127\.0\.0\.1:(\d+)\s+\(config (\S+)\)$/gm)];
  assert.deepEqual(hosts.map((m) => [m[1], m[2]]), [['h1', 'nixos'], ['h2', 'darwin'], ['alice@h3', 'home-manager']]);
  for (const name of ['h1', 'h2', 'alice@h3']) {
    for (const what of ['agent answers on', 'a wrong token is refused', 'switch to a new commit', 'rollback']) {
      assert.match(out, new RegExp(`^  ok   ${name}: ${what}`, 'm'), `${name}: ${what} not reported ok`);
    }
  }
  assert.match(out, /switch to a new commit: commit [0-9a-f]{7} → generation 4 \(system 24\.05\.\d\)/);
  assert.match(out, /rollback: back to generation 3 \(system 24\.05\.3\)/);
  assert.match(out, /all 12 checks passed/);
  // Torn down: the bed's temp dir is gone and no agent listens any more.
  for (const m of hosts) {
    const bedRoot = m[4]!.replace(/\/hosts\/.*$/, '');
    assert.ok(!existsSync(bedRoot), `${bedRoot} was left behind`);
    assert.equal(await listening(Number(m[3])), false, `the agent for ${m[1]} still listens on ${m[3]}`);
  }
});

test('without Nix the demo says how to get it instead of failing obscurely', () => {
  // A PATH with node and nothing else: no nix, no git.
  const bin = mkdtempSync(path.join(tmpdir(), 'nixfleet-nonix-'));
  try {
    symlinkSync(process.execPath, path.join(bin, 'node'));
    const r = spawnSync(process.execPath, [demo, '--check'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, PATH: bin, NIXFLEET_DEMO_INSTALL_NIX: '0', NIXFLEET_DEMO_SKIP_BUILD: '1' },
      timeout: 60_000,
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Nix is not usable here: nix is not installed \(no `nix` on PATH\)/);
    if (existsSync('/etc/debian_version')) assert.match(r.stderr, /sudo bash scripts\/setup\.sh nix/);
    else assert.match(r.stderr, /https:\/\/nixos\.org\/download/);
    assert.doesNotMatch(r.stdout, /creating the nixcfg flake/);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test('the demo refuses unknown arguments', () => {
  const r = spawnSync(process.execPath, [demo, '--chek'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown argument "--chek"/);
  assert.match(r.stderr, /usage: npm start \[-- --check\]/);
});

test('npm start with a `code` CLI: a private profile with both extensions, hosts in settings, tokens only in the 0600 hand-over file', () => {
  // Test double for VS Code's `code` command: it records its arguments and what the demo
  // prepared, and the final `--wait` call returns at once, as if the window was closed.
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-code-double-'));
  try {
    const log = path.join(dir, 'calls.jsonl');
    writeFileSync(
      path.join(dir, 'code'),
      `#!${process.execPath}
// Test double for the \`code\` CLI (records argv; see packaging-demo.test.ts).
const fs = require('node:fs');
const args = process.argv.slice(2);
const rec = { args };
const i = args.indexOf('--install-extension');
if (i >= 0) rec.vsixBytes = fs.statSync(args[i + 1]).size;
if (args.includes('--wait')) {
  const ud = args[args.indexOf('--user-data-dir') + 1];
  const settingsText = fs.readFileSync(ud + '/User/settings.json', 'utf8');
  rec.settings = JSON.parse(settingsText);
  const f = process.env.NIXFLEET_DEMO_TOKENS;
  const entries = JSON.parse(fs.readFileSync(f, 'utf8'));
  rec.tokenFileMode = (fs.statSync(f).mode & 0o777).toString(8);
  rec.tokenHosts = entries.map((e) => e.host);
  rec.tokensLookRandom = entries.every((e) => typeof e.token === 'string' && e.token.length >= 24);
  rec.settingsHoldAToken = entries.some((e) => settingsText.includes(e.token));
}
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify(rec) + '\\n');
`,
    );
    chmodSync(path.join(dir, 'code'), 0o755);
    const r = spawnSync(process.execPath, [demo], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, NIXFLEET_DEMO_SKIP_BUILD: '1', NIXFLEET_DEMO_EDITOR: '' },
      timeout: 300_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const calls = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const installs = calls.filter((c) => c.args.includes('--install-extension'));
    assert.deepEqual(installs.map((c) => path.basename(c.args[c.args.indexOf('--install-extension') + 1])), ['nixfleet.vsix', 'nixfleet-demo-tokens.vsix']);
    for (const c of installs) assert.ok(c.vsixBytes > 1000 && c.vsixBytes < 1024 * 1024, `vsix size ${c.vsixBytes}`);
    const open = calls.find((c) => c.args.includes('--wait'));
    assert.ok(open, 'the demo never opened the workspace');
    // The user's own profile is never touched: every call names the demo's private dirs.
    for (const c of calls) {
      assert.match(c.args[c.args.indexOf('--user-data-dir') + 1], /nixfleet-demo-/);
      assert.match(c.args[c.args.indexOf('--extensions-dir') + 1], /nixfleet-demo-/);
    }
    assert.match(open.args[open.args.length - 1], /\/workstation$/);
    assert.deepEqual(open.settings['nixfleet.hosts'].map((h: { name: string; platform: string; address: string }) => [h.name, h.platform, /^ws:\/\/127\.0\.0\.1:\d+$/.test(h.address)]), [
      ['h1', 'nixos', true], ['h2', 'darwin', true], ['alice@h3', 'home-manager', true],
    ]);
    assert.equal(open.tokenFileMode, '600');
    assert.deepEqual(open.tokenHosts, ['h1', 'h2', 'alice@h3']);
    assert.equal(open.tokensLookRandom, true);
    assert.equal(open.settingsHoldAToken, false, 'a token leaked into settings');
    assert.match(r.stdout, /A VS Code window opened with the demo nixcfg/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
