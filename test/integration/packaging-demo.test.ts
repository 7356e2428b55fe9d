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

const pkgVersion = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('npm start -- --check runs every command on 3 hosts, each confirmed on disk or in the journal, and tears everything down', async () => {
  // dist/ was built by test/run.mjs (or `npm run build`); rebuilding it here would rewrite
  // dist/agent.js under agents that other test files are running.
  const r = spawnSync(process.execPath, [demo, '--check'], { cwd: root, encoding: 'utf8', env: { ...process.env, NIXFLEET_DEMO_SKIP_BUILD: '1' }, timeout: 300_000 });
  const out = r.stdout + r.stderr;
  assert.equal(r.status, 0, out);
  assert.doesNotMatch(out, /^  FAIL /m);
  const hosts = [...out.matchAll(/^demo:\s+(\S+)\s+(nixos|darwin|home-manager)\s+agent on ws:\/\/127\.0\.0\.1:(\d+)\s+\(config (\S+)\)$/gm)];
  assert.deepEqual(hosts.map((m) => [m[1], m[2]]), [['h1', 'nixos'], ['h2', 'darwin'], ['alice@h3', 'home-manager']]);
  // One line per command: the common ones on every host, the rest where the demo runs them.
  const perHost: Record<string, string[]> = {
    h1: ['Force Rebuild', 'Run Tests', 'Rebuild Smart'],
    h2: ['Force Rebuild from Source', 'Cancel', 'Delete Old Generations'],
    'alice@h3': ['Rollback to generation 1', 'Update Agent'],
  };
  for (const [name, own] of Object.entries(perHost)) {
    for (const what of ['agent answers on', 'a wrong token is refused', 'Pull', 'Switch', 'Rollback', ...own]) {
      assert.equal(out.match(new RegExp(`^  ok   ${esc(name)}: ${esc(what)}(:| ws://)`, 'gm'))?.length, 1, `${name}: ${what} not reported ok exactly once`);
    }
  }
  for (const what of ['Deploy with a failing host', 'Plan Deploy', 'Revert PR', 'Rollback Deployed Hosts']) assert.match(out, new RegExp(`^  ok   fleet: ${what}:`, 'm'));
  // What each check saw, as it reports it.
  assert.match(out, new RegExp(`agent answers on .*: agent ${esc(pkgVersion)}\\+demo\\.1, nixos, 3 generations, current 3`));
  assert.match(out, /h1: Pull: checkout HEAD ([0-9a-f]{7}) = origin\/main, profile still at generation 3/);
  assert.match(out, /h1: Switch: commit [0-9a-f]{7} → generation 4 \(system 24\.05\.4\)/);
  assert.match(out, /h1: Rollback: back to generation 3 \(system 24\.05\.3\)/);
  assert.match(out, /alice@h3: Rollback to generation 1: generation 3 → 1 \(system 24\.05\.1\)/);
  assert.match(out, /h1: Force Rebuild: built with --option narinfo-cache-negative-ttl 0 \(journal\)/);
  assert.match(out, /h2: Force Rebuild from Source: built with --option substitute false \(journal\)/);
  assert.match(out, /h1: Run Tests: health checks passed \(journal\), recorded for generation \d+/);
  assert.match(out, /h2: Cancel: a 60 s health check run cancelled after [\d.]+ s: recorded cancelled/);
  assert.match(out, new RegExp(`alice@h3: Update Agent: agent ${esc(pkgVersion)}\\+demo\\.1 → ${esc(pkgVersion)}\\+demo\\.2: flake\\.lock → [0-9a-f]{7} committed`));
  assert.match(out, /demo: alice@h3: agent restarted from its current system \(.*\+demo\.1 → .*\+demo\.2\)/);
  assert.match(out, /h1: Rebuild Smart: local change committed and pushed \(origin\/main [0-9a-f]{7}\), generation \d+ \(system 24\.05\.9\)/);
  assert.match(out, /fleet: Deploy with a failing host: PR #1 \([0-9a-f]{7}\): h1 \(canary\) → generation \d+; h2 failed \(".*fail marker.*"\) and is back on \d+; alice@h3 not attempted/);
  // The plan made after the deploy stopped: the canary already runs the PR, the two others would move to it.
  assert.match(out, /fleet: Plan Deploy: Plan of commit [0-9a-f]{12}: 2 hosts change, 1 no change; .*\[h2\] darwin-system-h2 24\.05\.\d+ → 24\.05\.10; .*\[h1\] no change \(skipped\); no profile moved/);
  const revert = /fleet: Revert PR: revert PR #2 from revert-1 \([0-9a-f]{7}, the tree before PR #1\) on the GitHub test server http:\/\/127\.0\.0\.1:(\d+) \[[\d.]+ s\]$/m.exec(out);
  assert.ok(revert, 'Revert PR did not go through the GitHub test server on loopback');
  assert.match(out, /fleet: Rollback Deployed Hosts: h1 back on generation \d+; h2 already there/);
  const count = /all (\d+) checks passed in [\d.]+ s \(set-up [\d.]+ s, checks [\d.]+ s\)/.exec(out);
  assert.equal(count?.[1], '27', out);
  // Torn down: the bed's and the agent repo's temp dirs are gone, nothing listens any more.
  const agentRepo = /into a local NixFleet git repository \(the nixcfg's input "nixfleet"\) in (\S+)$/m.exec(out)?.[1];
  assert.ok(agentRepo && !existsSync(agentRepo), `${agentRepo} was left behind`);
  for (const m of hosts) {
    const bedRoot = m[4]!.replace(/\/hosts\/.*$/, '');
    assert.ok(!existsSync(bedRoot), `${bedRoot} was left behind`);
    assert.equal(await listening(Number(m[3])), false, `the agent for ${m[1]} still listens on ${m[3]}`);
  }
  assert.equal(await listening(Number(revert[1])), false, 'the GitHub test server still listens');
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
    // Where to look on disk, per host, and what to try.
    for (const [name, dir, profile] of [['h1', 'h1', 'system'], ['h2', 'h2', 'system'], ['alice@h3', 'alice-at-h3', 'home-manager']]) {
      assert.match(r.stdout, new RegExp(`^  ${name} \\((nixos|darwin|home-manager)\\), agent ${pkgVersion.replace(/\./g, '\\.')}\\+demo\\.1 on ws://127\\.0\\.0\\.1:\\d+$`, 'm'));
      assert.match(r.stdout, new RegExp(`^      profile   /\\S+/hosts/${dir}/profiles/${profile} `, 'm'));
      assert.match(r.stdout, new RegExp(`^      checkout  /\\S+/hosts/${dir}/nixcfg `, 'm'));
    }
    assert.match(r.stdout, /offers agent \S+\+demo\.2, the hosts run \S+\+demo\.1/);
    for (const command of ['Switch', 'Pull', 'Rollback to This Generation', 'Force Rebuild from Source', 'Run Tests', 'Update Agent on h1', 'Rebuild Smart on alice@h3', 'Deploy', 'Rollback Deployed Hosts', 'Revert PR', 'Cancel Operation', 'Show Logs']) {
      assert.ok(r.stdout.includes(command), `the what-to-try text does not name ${command}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
