// nixfleet-update (nix/nixfleet-update.sh) against real Nix 2.8 and real git: a nixcfg flake
// whose `nixfleet` input is a local git flake standing in for the NixFleet repository, a
// bare origin, the host's own clone, and a profile in a temp dir. The host's "system" ships
// a bin/nixfleet-agent printing the version pinned by the input, so --verify sees the
// version move only when the input really moved.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { lockHolder } from '../../agent/runner/lock';

const root = process.env.NIXFLEET_REPO_ROOT ?? path.resolve(import.meta.dirname, '../..');
const script = path.join(root, 'nix/nixfleet-update.sh');
const work = mkdtempSync(path.join(tmpdir(), 'nixfleet-update-'));
after(() => rmSync(work, { recursive: true, force: true }));

const gitEnv = {
  GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@localhost', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@localhost',
  GIT_CONFIG_NOSYSTEM: '1', HOME: work,
};
function sh(cmd: string, args: string[], cwd = work, env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...gitEnv, ...env } });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
function ok(cmd: string, args: string[], cwd = work): string {
  const r = sh(cmd, args, cwd);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const nixfleetRepo = path.join(work, 'nixfleet');
const origin = path.join(work, 'origin.git');
const workstation = path.join(work, 'workstation');
const checkout = path.join(work, 'host-h1');
const profile = path.join(work, 'profiles', 'system');
const stateDir = path.join(work, 'state');
const activationLog = path.join(work, 'activations.log');
const config = path.join(work, 'agent.json');
const lockSeen = path.join(work, 'lock-seen.json');

function setAgentVersion(version: string) {
  writeFileSync(path.join(nixfleetRepo, 'flake.nix'), `{ outputs = _: { lib.version = "${version}"; }; }\n`);
  ok('git', ['add', '-A'], nixfleetRepo);
  ok('git', ['commit', '-qm', `nixfleet ${version}`], nixfleetRepo);
}

function update(args: string[], env: Record<string, string> = {}) {
  return sh('bash', [script, ...args], work, env);
}

before(() => {
  mkdirSync(nixfleetRepo);
  ok('git', ['init', '-q', '-b', 'main'], nixfleetRepo);
  setAgentVersion('1.0.0');

  ok('git', ['init', '-q', '--bare', '-b', 'main', origin]);
  ok('git', ['clone', '-q', origin, workstation]);
  // A NixOS-shaped system without nixpkgs: switch-to-configuration records its arguments,
  // sw/bin/nixfleet-agent reports the pinned agent version.
  writeFileSync(
    path.join(workstation, 'flake.nix'),
    `{
  inputs.nixfleet.url = "git+file://${nixfleetRepo}";
  outputs = { self, nixfleet }: {
    nixosConfigurations.h1.config.system.build.toplevel = derivation {
      name = "nixos-system-h1-24.05.3"; system = "${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux"; builder = "/bin/sh";
      PATH = "/usr/bin:/bin";
      args = [ "-c" ''
        mkdir -p $out/bin $out/sw/bin
        echo 24.05.3 > $out/nixos-version
        printf '#!/bin/sh\\necho "switch-to-configuration $*" >> ${activationLog}\\ncp ${path.join(stateDir, 'lock')} ${lockSeen}\\n' > $out/bin/switch-to-configuration
        printf '#!/bin/sh\\necho ${'$'}{nixfleet.lib.version}\\n' > $out/sw/bin/nixfleet-agent
        chmod +x $out/bin/switch-to-configuration $out/sw/bin/nixfleet-agent
      '' ];
    };
  };
}
`,
  );
  ok('git', ['add', '-A'], workstation); // untracked files are invisible to a git flake
  ok('nix', ['flake', 'lock'], workstation);
  ok('git', ['add', '-A'], workstation);
  ok('git', ['commit', '-qm', 'nixcfg'], workstation);
  ok('git', ['push', '-q', 'origin', 'HEAD:main'], workstation);
  ok('git', ['clone', '-q', origin, checkout]);
  mkdirSync(path.dirname(profile), { recursive: true });
  mkdirSync(stateDir);
  writeFileSync(config, JSON.stringify({ host: 'h1', flake: checkout, platform: 'nixos', profile, stateDir }));
});

function currentGeneration(): number | undefined {
  if (!existsSync(profile)) return undefined;
  return Number(/-(\d+)-link$/.exec(readlinkSync(profile))?.[1]);
}

test('--dry-run prints the Nix 2.8 commands and changes nothing', () => {
  const lockBefore = readFileSync(path.join(checkout, 'flake.lock'), 'utf8');
  const r = update(['--dry-run', '--config', config]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('+ '));
  assert.deepEqual(lines, [
    `+ git -C ${checkout} pull --ff-only`,
    `+ nix flake lock --update-input nixfleet ${checkout}`,
    `+ nix build --json --no-link ${checkout}#nixosConfigurations.h1.config.system.build.toplevel`,
    `+ nix-env -p ${profile} --set \\<built\\ path\\>`,
    `+ \\<built\\ path\\>/bin/switch-to-configuration switch`,
  ]);
  assert.equal(readFileSync(path.join(checkout, 'flake.lock'), 'utf8'), lockBefore);
  assert.equal(currentGeneration(), undefined);
  assert.ok(!existsSync(activationLog));

  const forced = update(['--dry-run', '--force', '--config', config]);
  assert.match(forced.stdout, /^\+ nix build --json --no-link --option narinfo-cache-negative-ttl 0 /m);
  const rebuild = update(['--dry-run', '--force', '--config', config, '--switch-method', 'nixos-rebuild']);
  assert.match(rebuild.stdout, new RegExp(`^\\+ nixos-rebuild switch --flake ${checkout}#h1 --option narinfo-cache-negative-ttl 0$`, 'm'));
  const hm = update(['--dry-run', '--flake', checkout, '--host', 'alice@h3', '--platform', 'home-manager', '--input', 'nixfleet', '--profile', profile]);
  assert.match(hm.stdout, /^\+ nix build --json --no-link .*#homeConfigurations\.\\"alice@h3\\"\.activationPackage$/m);
  assert.match(hm.stdout, /^\+ \\<built\\ path\\>\/activate$/m);
  const darwin = update(['--dry-run', '--flake', checkout, '--host', 'mac1', '--platform', 'darwin', '--profile', profile]);
  assert.equal(darwin.status, 0, darwin.stderr);
  assert.match(darwin.stdout, /^\+ nix build --json --no-link .*#darwinConfigurations\.mac1\.system$/m);
  assert.match(darwin.stdout, /^\+ \\<built\\ path\\>\/activate$/m);
  const dr = update(['--dry-run', '--flake', checkout, '--host', 'mac1', '--platform', 'darwin', '--switch-method', 'darwin-rebuild']);
  assert.match(dr.stdout, new RegExp(`^\\+ darwin-rebuild switch --flake ${checkout}#mac1$`, 'm'));
});

test('newer Nix (2.19+) gets `nix flake update NAME --flake DIR`', () => {
  // Test double for the version only: a `nix` that reports 2.24 and passes everything else to the real nix.
  const bin = path.join(work, 'nix-2.24-bin');
  mkdirSync(bin, { recursive: true });
  const realNix = ok('sh', ['-c', 'command -v nix']).trim();
  writeFileSync(path.join(bin, 'nix'), `#!/bin/sh\nif [ "$1" = --version ]; then echo "nix (Nix) 2.24.9"; exit 0; fi\nexec ${realNix} "$@"\n`);
  chmodSync(path.join(bin, 'nix'), 0o755);
  const r = update(['--dry-run', '--config', config], { PATH: `${bin}:${process.env.PATH}` });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^\\+ nix flake update nixfleet --flake ${checkout}$`, 'm'));
});

test('bad arguments and bad config values are refused before anything runs', () => {
  const cases: [string[], number, RegExp][] = [
    [['--bogus'], 2, /unknown argument --bogus/],
    [['--config'], 2, /--config needs a value/],
    [['--config', config, '--host', 'h1;rm -rf /'], 1, /host h1\\;rm\\ -rf\\ \/ is not a flake attribute name/],
    [['--config', config, '--host', '--force'], 1, /host --force is not a flake attribute name/],
    [['--config', config, '--flake', 'relative/dir'], 1, /--flake must be an absolute path/],
    [['--config', config, '--flake', `${checkout}/../host-h1`], 1, /without \. or \.\. components/],
    [['--config', config, '--input', '-x'], 1, /flake input -x is not an input name/],
    [['--config', config, '--input', 'nixpkgs'], 1, /has no input named nixpkgs/],
    [['--config', config, '--platform', 'windows'], 1, /platform windows must be nixos, darwin or home-manager/],
    [['--config', config, '--switch-method', 'sh -c'], 1, /switch method sh\\ -c must be/],
    [['--config', path.join(work, 'missing.json')], 1, /cannot read the agent config/],
    [['--config', config, '--flake', work], 1, /is not a git checkout/],
  ];
  for (const [args, status, message] of cases) {
    const r = update(args);
    assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.equal(currentGeneration(), undefined);
});

test('a real update: builds, switches the profile, --verify sees the new agent version', () => {
  // First install (nothing changed upstream, so --force is needed to build at all).
  const unchanged = update(['--config', config]);
  assert.equal(unchanged.status, 0, unchanged.stderr);
  assert.match(unchanged.stdout, /h1 is up to date/);
  assert.equal(currentGeneration(), undefined);

  const first = update(['--force', '--config', config]);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(currentGeneration(), 1);
  assert.match(first.stdout, /agent version none -> 1\.0\.0/);
  assert.deepEqual(readFileSync(activationLog, 'utf8').trim().split('\n'), ['switch-to-configuration switch']);
  // While it switched, it held the host lock in the agent's own format.
  const held = lockHolder.parse(JSON.parse(readFileSync(lockSeen, 'utf8')));
  assert.equal(held.kind, 'self-update');
  assert.ok(!existsSync(path.join(stateDir, 'lock')), 'the lock is released at exit');

  // A new NixFleet release: --verify passes and the profile moves.
  setAgentVersion('2.0.0');
  const upgraded = update(['--verify', '--config', config]);
  assert.equal(upgraded.status, 0, upgraded.stderr);
  assert.match(upgraded.stdout, /agent version 1\.0\.0 -> 2\.0\.0/);
  assert.equal(currentGeneration(), 2);
  const store = readlinkSync(path.join(path.dirname(profile), 'system-2-link'));
  assert.equal(ok(path.join(store, 'sw/bin/nixfleet-agent'), []).trim(), '2.0.0');

  // The lock change is left for the user to commit, and a rerun says so instead of pulling over it.
  const dirty = update(['--verify', '--config', config]);
  assert.equal(dirty.status, 1);
  assert.match(dirty.stderr, /flake\.lock in .* has uncommitted changes/);
  ok('git', ['commit', '-qm', 'update nixfleet', 'flake.lock'], checkout);

  // Nothing new: --verify fails clearly, nothing is rebuilt.
  const same = update(['--verify', '--config', config]);
  assert.equal(same.status, 1);
  assert.match(same.stderr, /verify failed on h1: the agent's version is still 2\.0\.0/);
  assert.equal(currentGeneration(), 2);
});

test('the host lock of a running agent op makes it wait its turn', () => {
  const lock = path.join(stateDir, 'lock');
  writeFileSync(lock, JSON.stringify({ op: 'op-1', kind: 'switch', pid: process.pid, since: '2026-01-01T00:00:00Z' }));
  try {
    const r = update(['--force', '--config', config]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /busy: switch op-1 running since 2026-01-01T00:00:00Z/);
    assert.equal(currentGeneration(), 2);
  } finally {
    rmSync(lock, { force: true });
  }
  // A stale lock (its holder is gone) is taken over.
  writeFileSync(lock, JSON.stringify({ op: 'op-2', kind: 'switch', pid: 2 ** 22 + 12345, since: '2026-01-01T00:00:00Z' }));
  const r = update(['--force', '--config', config]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!existsSync(lock), 'the lock is released at exit');
});
