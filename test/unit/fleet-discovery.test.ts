// Real nix eval over a real git flake in a temp dir.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { discoverFlakeHosts } from '../../src/fleet/discovery';
import { flakeLockHash } from '../../protocol';
import { readWorkspaceInfo } from '../../src/fleet/workspace';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function flake(body: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-disc-'));
  dirs.push(dir);
  writeFileSync(path.join(dir, 'flake.nix'), `{ outputs = { self }: ${body}; }\n`);
  const git = (...a: string[]) => execFileSync('git', ['-C', dir, ...a], { stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  git('add', 'flake.nix');
  git('-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-qm', 'init');
  return dir;
}

test('discovers nixos, darwin and home-manager hosts from the flake with nix eval', async () => {
  const dir = flake(`{
    nixosConfigurations = { h1 = throw "not evaluated"; h2 = {}; };
    darwinConfigurations = { mac1 = {}; };
    homeConfigurations = { "alice@h1" = {}; };
  }`);
  const r = await discoverFlakeHosts(dir);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.hosts.map((h) => `${h.platform}:${h.name}`), ['nixos:h1', 'nixos:h2', 'darwin:mac1', 'home-manager:alice@h1']);
});

test('missing attributes are empty, evaluation errors are reported with what to do', async () => {
  const only = await discoverFlakeHosts(flake('{ nixosConfigurations = { h1 = {}; }; }'));
  assert.deepEqual(only, { hosts: [{ name: 'h1', platform: 'nixos', attribute: 'nixosConfigurations' }], errors: [] });
  const broken = await discoverFlakeHosts(flake('{ nixosConfigurations = throw "boom in config"; }'));
  assert.equal(broken.hosts.length, 0);
  assert.equal(broken.errors.length, 1);
  assert.match(broken.errors[0]!, /could not list nixosConfigurations .*boom in config.*nix eval/);
});

test('works where flakes are not enabled in the nix configuration', async () => {
  const saved = process.env.NIX_CONFIG;
  process.env.NIX_CONFIG = 'experimental-features =';
  try {
    const r = await discoverFlakeHosts(flake('{ nixosConfigurations = { h1 = {}; }; }'));
    assert.deepEqual(r, { hosts: [{ name: 'h1', platform: 'nixos', attribute: 'nixosConfigurations' }], errors: [] });
  } finally {
    if (saved === undefined) delete process.env.NIX_CONFIG;
    else process.env.NIX_CONFIG = saved;
  }
});

test('workspace info: HEAD commit and flake.lock hash', async () => {
  const dir = flake('{ }');
  writeFileSync(path.join(dir, 'flake.lock'), '{"nodes":{},"version":7}\n');
  const info = await readWorkspaceInfo(dir);
  assert.match(info.revision!, /^[0-9a-f]{40}$/);
  assert.equal(info.lockHash, flakeLockHash('{"nodes":{},"version":7}\n'));
  assert.equal(info.hasFlake, true);
  assert.equal(info.upstreamRevision, undefined);
});
