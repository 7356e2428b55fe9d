// `npm start -- --check` end to end (scripts/demo.mjs): the demo fleet on the real Nix test
// bed, its agents, the checks through the extension's agent client, and the teardown. Also
// what a machine without Nix is told.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
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
    if (existsSync('/etc/debian_version')) assert.match(r.stderr, /sudo apt-get install nix-bin git jq && sudo bash scripts\/setup-nix\.sh/);
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
