import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, extractConfigFlags, parseConfig } from '../../agent/config';

const base = { host: 'h1', flake: '/srv/nixcfg', platform: 'nixos', stateDir: '/var/lib/nixfleet-agent' };

test('a minimal config gets per-platform defaults', () => {
  const cfg = parseConfig(base);
  assert.equal(cfg.profile, '/nix/var/nix/profiles/system');
  assert.equal(cfg.switchMethod, 'direct');
  assert.deepEqual(cfg.healthChecks, []);
  // ~/.local/state/nix/profiles or, on Nix before 2.14, the per-user directory (nix-profile-location.test.ts).
  assert.match(parseConfig({ ...base, platform: 'home-manager' }).profile, /(\/\.local\/state\/nix\/profiles|\/nix\/var\/nix\/profiles\/per-user\/[^/]+)\/home-manager$/);
});

test('unknown keys are rejected by name', () => {
  assert.throws(() => parseConfig({ ...base, stateDirr: '/x' }), (e: Error) => e instanceof ConfigError && /unknown key "stateDirr"/.test(e.message));
});

test('bad values name the key and what is expected', () => {
  assert.throws(() => parseConfig({ ...base, host: 'h1; rm -rf /' }), /host: host must be a flake attribute name/);
  assert.throws(() => parseConfig({ ...base, flake: 'relative/path' }), /flake: flake must be an absolute path/);
  assert.throws(() => parseConfig({ ...base, stateDir: '/var/../etc' }), /stateDir must not contain "\.\."/);
  assert.throws(() => parseConfig({ ...base, listen: '0.0.0.0:99999' }), /port must be at most 65535/);
  assert.throws(() => parseConfig({ ...base, tlsCert: '/a.pem' }), /tlsCert and tlsKey go together/);
});

test('every key has a CLI flag of the same name', () => {
  const { overrides, rest } = extractConfigFlags(['serve', '--state-dir', '/tmp/s', '--confirm-timeout=5', '--auto-push', 'false', '--json']);
  assert.deepEqual(overrides, { stateDir: '/tmp/s', confirmTimeout: 5, autoPush: false });
  assert.deepEqual(rest, ['serve', '--json']);
  assert.throws(() => extractConfigFlags(['--confirm-timeout', 'soon']), /--confirm-timeout takes a whole number/);
  assert.throws(() => extractConfigFlags(['--state-dir']), /--state-dir needs a value/);
});
