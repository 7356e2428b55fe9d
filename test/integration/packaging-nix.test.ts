// The Nix packaging (flake.nix, nix/**) checked with the real Nix that is installed here.
// nixpkgs cannot be downloaded, so: every .nix file is parsed; the flake's output names
// are evaluated with nixpkgs overridden by a stub flake (names need no nixpkgs); the
// modules are evaluated with a minimal stand-in for nixpkgs' `lib` (only the pure helpers
// they call) to check the systemd/launchd units they generate, and the config JSON they
// write is fed to the agent's own validation.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { configSchema, parseConfig } from '../../agent/config';

const root = process.env.NIXFLEET_REPO_ROOT ?? path.resolve(import.meta.dirname, '../..');
const work = mkdtempSync(path.join(tmpdir(), 'nixfleet-packaging-'));
after(() => rmSync(work, { recursive: true, force: true }));

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? work, env: { ...process.env, ...opts.env }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
function ok(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  const r = run(cmd, args, opts);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

test('every .nix file in the repository parses', () => {
  const files = ok('git', ['ls-files', '--cached', '--others', '--exclude-standard', '--', '*.nix'], { cwd: root })
    .split('\n')
    .filter(Boolean);
  for (const f of ['flake.nix', 'nix/package.nix', 'nix/update.nix', 'nix/modules/nixos.nix', 'nix/modules/darwin.nix', 'nix/modules/home-manager.nix']) {
    assert.ok(files.includes(f), `${f} is missing`);
  }
  for (const f of files) {
    const r = run('nix-instantiate', ['--parse', path.join(root, f)]);
    assert.equal(r.status, 0, `${f} does not parse: ${r.stderr}`);
  }
});

// A copy of the packaging files as a git flake in a temp dir (never evaluated in place,
// so no flake.lock is written into the project), with a stub nixpkgs.
function flakeCopy(): { dir: string; override: string[] } {
  const dir = path.join(work, 'flake');
  const stub = path.join(work, 'stub-nixpkgs');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(stub, { recursive: true });
  writeFileSync(path.join(stub, 'flake.nix'), '{ outputs = _: { legacyPackages = { }; }; }\n');
  mkdirSync(dir);
  for (const f of ['flake.nix', 'nix', 'package.json', 'package-lock.json']) cpSync(path.join(root, f), path.join(dir, f), { recursive: true });
  ok('git', ['init', '-q'], { cwd: dir });
  ok('git', ['add', '-A'], { cwd: dir });
  ok('git', ['-c', 'user.name=t', '-c', 'user.email=t@localhost', 'commit', '-qm', 'flake'], { cwd: dir });
  return { dir, override: ['--no-write-lock-file', '--override-input', 'nixpkgs', `path:${stub}`] };
}

test('the flake evaluates its output names offline (nixpkgs stubbed)', () => {
  const { dir, override } = flakeCopy();
  const names = (attr: string) => JSON.parse(ok('nix', ['eval', '--json', ...override, `.#${attr}`, '--apply', 'builtins.attrNames'], { cwd: dir }));
  const systems = ['aarch64-darwin', 'aarch64-linux', 'x86_64-darwin', 'x86_64-linux'];
  assert.deepEqual(names('packages'), systems);
  for (const s of systems) {
    assert.deepEqual(names(`packages.${s}`), ['default', 'nixfleet-agent', 'nixfleet-update']);
    assert.deepEqual(names(`apps.${s}`), ['default', 'nixfleet-agent', 'nixfleet-update']);
  }
  for (const m of ['nixosModules', 'darwinModules', 'homeManagerModules']) {
    assert.deepEqual(names(m), ['default', 'nixfleet-agent']);
    assert.equal(ok('nix', ['eval', ...override, `.#${m}.nixfleet-agent`, '--apply', 'builtins.isFunction'], { cwd: dir }).trim(), 'true');
  }
  assert.deepEqual(names('overlays'), ['default']);
  // The flake's lib generates a config the agent accepts.
  const json = ok('nix', ['eval', '--raw', ...override, '.#lib', '--apply', 'l: l.toJSON { host = "h1"; flake = "/srv/nixcfg"; platform = "nixos"; stateDir = "/var/lib/nixfleet-agent"; listen = null; }'], { cwd: dir });
  assert.deepEqual(JSON.parse(json), { host: 'h1', flake: '/srv/nixcfg', platform: 'nixos', stateDir: '/var/lib/nixfleet-agent' });
  parseConfig(JSON.parse(json));
});

test('the config generator knows exactly the keys of agent/config.ts', () => {
  const keys = JSON.parse(ok('nix-instantiate', ['--eval', '--strict', '--json', '-E', `(import ${root}/nix/lib/agent-config.nix).keys`]));
  assert.deepEqual(keys, Object.keys(configSchema.shape));
  const bad = run('nix-instantiate', ['--eval', '--strict', '-E', `(import ${root}/nix/lib/agent-config.nix).toJSON { host = "h"; flake = "/f"; platform = "nixos"; stateDir = "/s"; stateDirr = "/x"; }`]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /unknown key\(s\) stateDirr/);
  const missing = run('nix-instantiate', ['--eval', '--strict', '-E', `(import ${root}/nix/lib/agent-config.nix).toJSON { host = "h"; platform = "nixos"; stateDir = "/s"; }`]);
  assert.match(missing.stderr, /flake must be set/);
  const port = (l: string) => run('nix-instantiate', ['--eval', '-E', `(import ${root}/nix/lib/agent-config.nix).listenPort "${l}"`]);
  assert.equal(port('[::1]:7531').stdout.trim(), '7531');
  assert.match(port('0.0.0.0:70000').stderr, /port 70000 is above 65535/);
  assert.match(port('nonsense').stderr, /must be ADDRESS:PORT/);
});

// Only the pure helpers the modules call, behaving as nixpkgs' do; option declarations are
// kept as plain attrsets so their defaults can be read back.
const stubLib = `rec {
  mkOption = o: o;
  mkEnableOption = d: { default = false; description = d; };
  types = let t = name: { inherit name; }; in {
    str = t "str"; bool = t "bool"; package = t "package"; listOf = _: t "listOf"; nonEmptyListOf = _: t "nonEmptyListOf";
    nullOr = _: t "nullOr"; enum = _: t "enum"; strMatching = _: t "strMatching"; addCheck = _: _: t "addCheck";
    ints = { positive = t "int"; between = _: _: t "int"; };
  };
  literalExpression = text: { _type = "literalExpression"; inherit text; };
  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkMerge = contents: { _type = "merge"; inherit contents; };
  escapeShellArg = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\\\''" ] s + "'";
  escapeShellArgs = l: builtins.concatStringsSep " " (map escapeShellArg l);
  makeBinPath = ps: builtins.concatStringsSep ":" (map (p: "\${p}/bin") ps);
  hasPrefix = pre: s: builtins.substring 0 (builtins.stringLength pre) s == pre;
  mapAttrsToList = f: a: map (n: f n a.\${n}) (builtins.attrNames a);
}`;

/** Apply mkIf/mkMerge as the module system would (conditions are plain booleans here). */
function resolve(x: any): any {
  if (Array.isArray(x)) return x.map(resolve);
  if (x === null || typeof x !== 'object') return x;
  if (x._type === 'if') return x.condition ? resolve(x.content) : undefined;
  if (x._type === 'merge') return x.contents.map(resolve).filter((c: unknown) => c !== undefined).reduce(merge, {});
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(x)) {
    const r = resolve(v);
    if (r !== undefined) out[k] = r;
  }
  return out;
}
function merge(a: any, b: any): any {
  if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in out ? merge(out[k], v) : v;
    return out;
  }
  assert.fail(`conflicting definitions: ${JSON.stringify(a)} and ${JSON.stringify(b)}`);
}

function evalModule(kind: 'nixos' | 'darwin' | 'home-manager', settings: string, system = 'x86_64-linux'): any {
  const file = path.join(work, `eval-${kind}-${Math.random().toString(36).slice(2)}.nix`);
  writeFileSync(
    file,
    `let
  lib = ${stubLib};
  self = { packages.${system} = { nixfleet-agent = "/nix/store/00000000000000000000000000000000-nixfleet-agent"; nixfleet-update = "/nix/store/00000000000000000000000000000000-nixfleet-update"; }; };
  isDarwin = ${system.endsWith('darwin')};
  pkgs = {
    stdenv.hostPlatform = { system = "${system}"; isLinux = !isDarwin; isDarwin = isDarwin; };
    writeText = builtins.toFile;
    git = "/nix/store/g-git"; coreutils = "/nix/store/c-coreutils"; util-linux = "/nix/store/u-util-linux";
  };
  config = {
    services.nixfleet-agent = defaults // (${settings});
    nix.package = "/nix/store/n-nix"; systemd.package = "/nix/store/s-systemd";
    system.build.nixos-rebuild = "/nix/store/r-nixos-rebuild";
    xdg.stateHome = "/home/alice/.local/state"; home.profileDirectory = "/home/alice/.nix-profile";
  };
  module = import ${root}/nix/modules/${kind}.nix { inherit self; } { inherit config lib pkgs; };
  defaults = builtins.mapAttrs (_: o: o.default or null) module.options.services.nixfleet-agent;
  cfg = config.services.nixfleet-agent;
in { inherit cfg; enabled = module.config.condition; config = module.config.content; }
`,
  );
  const raw = JSON.parse(ok('nix-instantiate', ['--eval', '--strict', '--json', '--read-write-mode', file]));
  return { ...raw, config: resolve(raw.config) ?? {} };
}

test('the NixOS module makes a root systemd service that survives its own switch, and a config the agent accepts', () => {
  const tokens = path.join(work, 'tokens');
  const r = evalModule('nixos', `{ enable = true; host = "web1"; flake = "/etc/nixcfg"; listen = "0.0.0.0:7531"; tokenFile = "${tokens}"; openFirewall = true; healthChecks = [ [ "systemctl" "is-system-running" ] ]; switchMethod = "nixos-rebuild"; }`);
  assert.equal(r.enabled, true);
  const unit = r.config.systemd.services['nixfleet-agent'];
  assert.equal(unit.serviceConfig.Restart, 'always');
  assert.equal(unit.serviceConfig.KillMode, 'process', 'detached op workers must survive the agent restart a switch causes');
  assert.equal(unit.serviceConfig.StateDirectory, 'nixfleet-agent');
  assert.equal(unit.serviceConfig.User, 'root');
  assert.deepEqual(unit.wantedBy, ['multi-user.target']);
  for (const p of ['/nix/store/n-nix', '/nix/store/g-git']) assert.ok(unit.path.includes(p), `PATH lacks ${p}`);
  assert.equal(unit.environment.GIT_CONFIG_VALUE_0, '/etc/nixcfg');
  const configPath = r.config.environment.etc['nixfleet-agent/config.json'].source;
  assert.equal(unit.serviceConfig.ExecStart, `'/nix/store/00000000000000000000000000000000-nixfleet-agent/bin/nixfleet-agent' 'serve' '--config' '${configPath}'`);
  assert.deepEqual(r.config.networking.firewall.allowedTCPPorts, [7531]);
  assert.deepEqual(r.config.systemd.tmpfiles.rules, ['d /var/lib/nixfleet-agent 0700 root root -']);
  for (const a of r.config.assertions) assert.equal(a.assertion, true, a.message);

  const written = JSON.parse(readFileSync(configPath, 'utf8'));
  assert.deepEqual(written, {
    host: 'web1',
    flake: '/etc/nixcfg',
    platform: 'nixos',
    profile: '/nix/var/nix/profiles/system',
    stateDir: '/var/lib/nixfleet-agent',
    listen: '0.0.0.0:7531',
    tokenFile: tokens,
    healthChecks: [['systemctl', 'is-system-running']],
    switchMethod: 'nixos-rebuild',
  });
  const cfg = parseConfig(written, configPath);
  assert.equal(cfg.confirmTimeout, 30, 'unset options leave the agent its own defaults');
});

test('the NixOS module refuses an open listener without a token and secrets in the store', () => {
  const r = evalModule('nixos', `{ enable = true; host = "web1"; flake = "/etc/nixcfg"; listen = "0.0.0.0:7531"; }`);
  const failing = r.config.assertions.filter((a: { assertion: boolean }) => !a.assertion).map((a: { message: string }) => a.message);
  assert.equal(failing.length, 1);
  assert.match(failing[0], /is not loopback: set tokenFile/);
  const s = evalModule('nixos', `{ enable = true; host = "web1"; flake = "/etc/nixcfg"; tokenFile = "/nix/store/abc-tokens"; }`);
  assert.ok(s.config.assertions.some((a: { assertion: boolean; message: string }) => !a.assertion && /must not be in the Nix store/.test(a.message)));
  const off = evalModule('nixos', `{ host = "web1"; flake = "/etc/nixcfg"; }`);
  assert.equal(off.enabled, false);
  // SSH only: the config and the update script are installed, no server runs.
  const ssh = evalModule('nixos', `{ enable = true; host = "web1"; flake = "/etc/nixcfg"; listen = null; openFirewall = true; }`);
  assert.equal(ssh.config.systemd.services, undefined);
  assert.equal(ssh.config.networking, undefined);
  assert.ok(ssh.config.environment.etc['nixfleet-agent/config.json']);
  assert.equal(JSON.parse(readFileSync(ssh.config.environment.etc['nixfleet-agent/config.json'].source, 'utf8')).listen, undefined);
  const hmSsh = evalModule('home-manager', `{ enable = true; host = "alice@laptop"; flake = "/home/alice/nixcfg"; listen = null; }`);
  assert.equal(hmSsh.config.systemd, undefined);
});

test('the nix-darwin module makes a launchd daemon whose op workers outlive it', () => {
  const r = evalModule('darwin', `{ enable = true; host = "mac1"; flake = "/Users/me/nixcfg"; }`, 'aarch64-darwin');
  const d = r.config.launchd.daemons['nixfleet-agent'].serviceConfig;
  assert.equal(d.KeepAlive, true);
  assert.equal(d.RunAtLoad, true);
  assert.equal(d.AbandonProcessGroup, true);
  assert.equal(d.ProgramArguments[1], 'serve');
  assert.match(d.EnvironmentVariables.PATH, /^\/nix\/store\/n-nix\/bin:/);
  const written = JSON.parse(readFileSync(d.ProgramArguments[3], 'utf8'));
  assert.equal(written.platform, 'darwin');
  assert.equal(parseConfig(written).listen, '127.0.0.1:7531');
});

test('the home-manager module makes a user service on Linux and a launchd agent on macOS', () => {
  const linux = evalModule('home-manager', `{ enable = true; host = "alice@laptop"; flake = "/home/alice/nixcfg"; }`);
  const svc = linux.config.systemd.user.services['nixfleet-agent'];
  assert.equal(linux.config.launchd, undefined);
  assert.equal(svc.Service.KillMode, 'process');
  assert.equal(svc.Service.Restart, 'always');
  assert.deepEqual(svc.Install.WantedBy, ['default.target']);
  const configPath = linux.config.xdg.configFile['nixfleet-agent/config.json'].source;
  const written = JSON.parse(readFileSync(configPath, 'utf8'));
  assert.equal(written.profile, '/home/alice/.local/state/nix/profiles/home-manager');
  assert.equal(written.stateDir, '/home/alice/.local/state/nixfleet-agent');
  assert.equal(parseConfig(written).platform, 'home-manager');
  const mac = evalModule('home-manager', `{ enable = true; host = "alice@mac"; flake = "/Users/alice/nixcfg"; }`, 'aarch64-darwin');
  assert.equal(mac.config.systemd, undefined);
  assert.equal(mac.config.launchd.agents['nixfleet-agent'].config.AbandonProcessGroup, true);
  assert.equal(mac.config.launchd.agents['nixfleet-agent'].config.KeepAlive, true);
});

test('nix/esbuild-agent.json builds the same dist/agent.js as scripts/build.mjs', () => {
  const spec = JSON.parse(readFileSync(path.join(root, 'nix/esbuild-agent.json'), 'utf8'));
  const env = { NIXFLEET_BUILD_VERSION: '9.9.9+test' };
  const a = path.join(work, 'bundle-a');
  const b = path.join(work, 'bundle-b');
  const r = run(process.execPath, ['scripts/build.mjs', '--only=agent', '--production', `--outdir=${a}`], { cwd: root, env });
  assert.equal(r.status, 0, r.stderr);
  const args = spec.args.map((x: string) => x.replace('@VERSION@', env.NIXFLEET_BUILD_VERSION));
  ok(path.join(root, 'node_modules/.bin/esbuild'), [spec.entry, ...args, `--outfile=${b}/agent.js`], { cwd: root });
  const built = readFileSync(`${a}/agent.js`);
  assert.ok(built.includes('9.9.9+test'), 'the version is baked into the bundle');
  assert.ok(built.equals(readFileSync(`${b}/agent.js`)), 'nix/esbuild-agent.json has drifted from scripts/build.mjs: update it to the same options');
});

test('nix/npm-deps-hash.nix matches package-lock.json', () => {
  const expected = /"(sha256-[A-Za-z0-9+/=]+)"/.exec(readFileSync(path.join(root, 'nix/npm-deps-hash.nix'), 'utf8'))?.[1];
  assert.ok(expected, 'nix/npm-deps-hash.nix holds no sha256 hash');
  // The same `npm ci --omit=dev` the Nix build does; it fails when package-lock.json does not
  // match package.json (then `nix build` and a fresh `npm ci` fail the same way).
  const r = run('bash', [path.join(root, 'nix/npm-deps-hash.sh')]);
  assert.equal(r.status, 0, `nix/npm-deps-hash.sh (npm ci --omit=dev on package-lock.json) failed: ${r.stderr.split('\n').filter((l) => /npm error/.test(l)).slice(0, 6).join(' | ')}`);
  const actual = r.stdout.trim();
  assert.equal(actual, expected, 'runtime npm dependencies changed: run `bash nix/npm-deps-hash.sh --write` and commit nix/npm-deps-hash.nix');
});

test('nix/package.nix: its build script, run here with stand-ins for nixpkgs, bundles an agent that reports the flake version', () => {
  // Evaluate the package with the few nixpkgs functions it calls replaced by plain ones:
  // derivations stay attrsets, so the build phase's text can be read and run.
  const version = '0.1.0+abc1234';
  const file = path.join(work, 'eval-package.nix');
  writeFileSync(
    file,
    `let
  lib = {
    fileset = { toSource = { root, fileset }: root; unions = l: l; };
    escapeShellArg = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\\\''" ] s + "'";
    escapeShellArgs = l: builtins.concatStringsSep " " (map lib.escapeShellArg l);
    replaceStrings = builtins.replaceStrings;
    makeBinPath = ps: builtins.concatStringsSep ":" (map (p: "\${p}/bin") ps);
    getExe = p: "\${p}/bin/node";
    fetchers.proxyImpureEnvVars = [ "http_proxy" ];
    licenses.mit = "mit"; platforms = { linux = [ "x86_64-linux" ]; darwin = [ "aarch64-darwin" ]; };
  };
  drv = a: a // { outPath = "/nix/store/00000000000000000000000000000000-\${a.pname}"; };
  pkg = import ${root}/nix/package.nix {
    inherit lib;
    stdenv.mkDerivation = drv;
    stdenvNoCC.mkDerivation = a: a // { outPath = "${path.join(work, 'deps-out')}"; };
    nodejs = "/nix/store/n-nodejs"; esbuild = "/nix/store/e-esbuild"; git = "/nix/store/g-git";
    cacert = "/nix/store/c-cacert"; makeWrapper = "/nix/store/m-make-wrapper";
    version = "${version}";
  };
in { inherit (pkg) pname version buildPhase installPhase installCheckPhase; deps = { inherit (pkg.passthru.npmDeps) outputHash outputHashMode buildPhase installPhase; }; }
`,
  );
  const pkg = JSON.parse(ok('nix-instantiate', ['--eval', '--strict', '--json', file]));
  assert.equal(pkg.pname, 'nixfleet-agent');
  assert.equal(pkg.version, version);
  const pinned = /"(sha256-[^"]+)"/.exec(readFileSync(path.join(root, 'nix/npm-deps-hash.nix'), 'utf8'))![1];
  assert.equal(pkg.deps.outputHash, pinned);
  assert.equal(pkg.deps.outputHashMode, 'recursive');
  assert.match(pkg.deps.buildPhase, /node nix\/prune-dev-deps\.cjs\n\s*npm ci --omit=dev --omit=optional --ignore-scripts --no-bin-links/);

  // Run the fixed-output derivation's phases here (npm's cache standing in for the network)
  // and hash the result as Nix would: it must give the pinned hash.
  const depsSrc = path.join(work, 'deps-src');
  const depsTmp = path.join(work, 'deps-tmp');
  const depsOut = path.join(work, 'deps-out');
  for (const d of [depsSrc, depsTmp, depsOut]) rmSync(d, { recursive: true, force: true });
  // (the build phase below links ${'$'}{npmDeps}/node_modules, i.e. depsOut/node_modules)
  mkdirSync(path.join(depsSrc, 'nix'), { recursive: true });
  mkdirSync(depsTmp);
  for (const f of ['package.json', 'package-lock.json', 'nix/prune-dev-deps.cjs']) cpSync(path.join(root, f), path.join(depsSrc, f));
  const npmCache = ok('npm', ['config', 'get', 'cache']).trim();
  symlinkSync(npmCache, path.join(depsTmp, 'npm-cache'));
  const fod = run('bash', ['-euo', 'pipefail', '-c', `runHook() { :; }\n${pkg.deps.buildPhase}\n${pkg.deps.installPhase}`], {
    cwd: depsSrc,
    env: { TMPDIR: depsTmp, out: depsOut, npm_config_prefer_offline: 'true' },
  });
  assert.equal(fod.status, 0, fod.stderr);
  assert.equal(ok('nix', ['hash', 'path', '--type', 'sha256', depsOut]).trim(), pinned, 'the npm deps derivation would not match nix/npm-deps-hash.nix: run `bash nix/npm-deps-hash.sh --write`');
  assert.match(pkg.installPhase, /makeWrapper \/nix\/store\/n-nodejs\/bin\/node "\$out\/bin\/nixfleet-agent"/);
  assert.match(pkg.installCheckPhase, /--version \| grep -F -- '0\.1\.0\+abc1234'/);

  // Run the build phase on a copy of the package's source, with this machine's esbuild.
  const src = path.join(work, 'package-src');
  rmSync(src, { recursive: true, force: true });
  mkdirSync(path.join(src, 'scripts'), { recursive: true });
  for (const f of ['package.json', 'tsconfig.json', 'agent', 'protocol', 'scripts/import-meta-url.js']) cpSync(path.join(root, f), path.join(src, f), { recursive: true });
  const bin = path.join(work, 'esbuild-bin');
  mkdirSync(bin, { recursive: true });
  // The esbuild CLI stand-in for nixpkgs' esbuild: the project's own, run from where its
  // package can resolve its platform binary (a copy of the JS launcher elsewhere cannot).
  writeFileSync(path.join(bin, 'esbuild'), `#!/bin/sh\nexec "${process.execPath}" "${path.join(root, 'node_modules/esbuild/bin/esbuild')}" "$@"\n`, { mode: 0o755 });
  // makeWrapper stand-in: the same wrapper, with this machine's node instead of nixpkgs' one.
  const makeWrapper = `makeWrapper() { local out=$2 flags=""; shift 2; while [ $# -gt 0 ]; do case $1 in --add-flags) flags=$2; shift 2 ;; --suffix|--prefix) shift 4 ;; *) echo "makeWrapper: unexpected $1" >&2; return 1 ;; esac; done; mkdir -p "$(dirname "$out")"; printf '#!/bin/sh\\nexec %s %s "$@"\\n' "${process.execPath}" "$flags" > "$out"; chmod +x "$out"; }`;
  const out = path.join(work, 'package-out');
  rmSync(out, { recursive: true, force: true });
  const r = run('bash', ['-euo', 'pipefail', '-c', `runHook() { :; }\n${makeWrapper}\n${pkg.buildPhase}\n${pkg.installPhase}\n${pkg.installCheckPhase}`], {
    cwd: src,
    env: { PATH: `${bin}:${process.env.PATH}`, out },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(readFileSync(path.join(out, 'lib/nixfleet-agent/package.json'), 'utf8')), { type: 'commonjs' });
  const v = run(path.join(out, 'bin/nixfleet-agent'), ['--version']);
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stdout.trim(), version);
});

test('README.md documents every command, every setting and every doc', () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  for (const c of pkg.contributes?.commands ?? []) {
    assert.ok(readme.includes(`| ${c.title} |`), `README's command table lacks "${c.title}" (${c.command})`);
  }
  for (const key of Object.keys(pkg.contributes?.configuration?.properties ?? {})) {
    const group = key.split('.').slice(0, 2).join('.');
    assert.ok(readme.includes(key) || readme.includes(`${group}.*`), `README does not mention the setting ${key}`);
  }
  const docs = ok('git', ['ls-files', '--cached', '--others', '--exclude-standard', '--', 'docs/*.md'], { cwd: root }).split('\n').filter(Boolean);
  for (const d of docs) assert.ok(readme.includes(`](${d})`), `README does not link ${d}`);
  for (const [, target] of readme.matchAll(/\]\(((?:docs|media)\/[^)#]+)\)/g)) {
    assert.ok(existsSync(path.join(root, target!)), `README links ${target}, which does not exist`);
  }
  assert.match(readme, /^npm start\b/m);
  assert.match(readme, /^npm test\b/m);
  for (const snippet of ['nixosModules.nixfleet-agent', 'darwinModules.nixfleet-agent', 'homeManagerModules.nixfleet-agent']) {
    assert.ok(readme.includes(`nixfleet.${snippet}`), `README has no ${snippet} snippet`);
  }
  assert.ok(existsSync(path.join(root, 'media/fleet-view.png')), 'the README screenshot media/fleet-view.png is missing');
});
