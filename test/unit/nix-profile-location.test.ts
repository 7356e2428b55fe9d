// Where a home-manager host's profile is when the config names none: the directory Nix
// ≥ 2.14 uses, or the one older Nix (Debian 12's 2.8) used, as home-manager itself decides.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, test } from 'node:test';
import { defaultProfile, defaultRunningSystem } from '../../agent/nix/platform';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));
function layout(...dirs: string[]) {
  dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-hm-profile-'));
  for (const d of dirs) mkdirSync(path.join(dir, d), { recursive: true });
  return { home: path.join(dir, 'home/alice'), user: 'alice', nixStateDir: path.join(dir, 'nix/var/nix') };
}

test('NixOS and nix-darwin use the system profile', () => {
  assert.equal(defaultProfile('nixos'), '/nix/var/nix/profiles/system');
  assert.equal(defaultProfile('darwin'), '/nix/var/nix/profiles/system');
});

test('home-manager on current Nix: ~/.local/state/nix/profiles/home-manager', () => {
  const env = layout('home/alice/.local/state/nix/profiles', 'nix/var/nix/profiles/per-user/alice');
  assert.equal(defaultProfile('home-manager', env), path.join(env.home, '.local/state/nix/profiles/home-manager'));
});

test('home-manager on Nix before 2.14: the per-user profile directory, when only it exists', () => {
  const env = layout('home/alice', 'nix/var/nix/profiles/per-user/alice');
  assert.equal(defaultProfile('home-manager', env), path.join(env.nixStateDir, 'profiles/per-user/alice/home-manager'));
});

test('home-manager with neither directory yet: the current location, where Nix will create it', () => {
  const env = layout('home/alice');
  assert.equal(defaultProfile('home-manager', env), path.join(env.home, '.local/state/nix/profiles/home-manager'));
});

test('home-manager honours XDG_STATE_HOME', () => {
  const env = layout('state/nix/profiles');
  assert.equal(defaultProfile('home-manager', { ...env, xdgStateHome: path.join(dir, 'state') }), path.join(dir, 'state/nix/profiles/home-manager'));
});

test('the running system: /run/current-system on NixOS and nix-darwin; home-manager\'s current-home gcroot, where it is', () => {
  assert.equal(defaultRunningSystem('nixos'), '/run/current-system');
  assert.equal(defaultRunningSystem('darwin'), '/run/current-system');
  const current = layout('home/alice/.local/state/home-manager/gcroots');
  assert.equal(defaultRunningSystem('home-manager', current), path.join(current.home, '.local/state/home-manager/gcroots/current-home'));
  rmSync(dir, { recursive: true, force: true });
  // Older home-manager kept it with the per-user gcroots: taken when only that one exists.
  const legacy = layout('home/alice', 'nix/var/nix/gcroots/per-user/alice');
  writeFileSync(path.join(legacy.nixStateDir, 'gcroots/per-user/alice/current-home'), '');
  assert.equal(defaultRunningSystem('home-manager', legacy), path.join(legacy.nixStateDir, 'gcroots/per-user/alice/current-home'));
});
