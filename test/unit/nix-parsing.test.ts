// Parsing and argv construction in the Nix layer, without running Nix.
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { compareVersions, nixInfoFor, parseNixVersion } from '../../agent/nix/info';
import { activationCommands, systemAttr, versionFile } from '../../agent/nix/platform';
import { readProfile } from '../../agent/nix/profile';
import { rebuildToolArgv } from '../../agent/nix/rebuildTool';
import { flakeRef, parseBuildJson } from '../../agent/nix/system';
import { parseLockedInputs } from '../../agent/nix/flakeLock';
import { planRollback } from '../../agent/ops/rollback';
import { checksFor, readMetadata, recordChecks, recordRevision } from '../../agent/state/metadata';
import { listGenerations } from '../../agent/nix/generations';

test('parseNixVersion reads the versions Nix prints', () => {
  assert.equal(parseNixVersion('nix (Nix) 2.8.0\n'), '2.8.0');
  assert.equal(parseNixVersion('nix (Nix) 2.24.10\n'), '2.24.10');
  assert.equal(parseNixVersion('nix (Nix) 2.25.0pre20241101_dirty'), '2.25.0');
  assert.equal(parseNixVersion('nix (Lix, like Nix) 2.91.1'), '2.91.1');
  assert.throws(() => parseNixVersion('command not found'), /cannot read the Nix version from "command not found"/);
});

test('flake input update is spelled per Nix version', () => {
  assert.deepEqual(nixInfoFor('2.8.0').flakeUpdateInput('nixfleet'), ['nix', 'flake', 'lock', '--update-input', 'nixfleet']);
  assert.deepEqual(nixInfoFor('2.18.9').flakeUpdateInput('x'), ['nix', 'flake', 'lock', '--update-input', 'x']);
  assert.deepEqual(nixInfoFor('2.19.0').flakeUpdateInput('x'), ['nix', 'flake', 'update', 'x']);
  assert.deepEqual(nixInfoFor('2.24.10').flakeUpdateInput('x'), ['nix', 'flake', 'update', 'x']);
  assert.equal(compareVersions('2.9', '2.19'), -1);
  assert.equal(compareVersions('2.19', '2.19.0'), 0);
  assert.equal(compareVersions('3.0', '2.19'), 1);
});

test('parseBuildJson takes the out path of nix build --json and rejects anything else', () => {
  assert.equal(
    parseBuildJson('[{"drvPath":"/nix/store/a.drv","outputs":{"out":"/nix/store/abc-nixos-system-h1"}}]\n'),
    '/nix/store/abc-nixos-system-h1',
  );
  assert.throws(() => parseBuildJson('building...'), /not JSON/);
  assert.throws(() => parseBuildJson('[]'), /did not name an "out" store path/);
  assert.throws(() => parseBuildJson('[{"outputs":{"out":"relative"}}]'), /did not name an "out" store path/);
});

test('system attributes, version files, activation commands per platform', () => {
  assert.equal(systemAttr('nixos', 'h1'), 'nixosConfigurations."h1".config.system.build.toplevel');
  assert.equal(systemAttr('darwin', 'mac'), 'darwinConfigurations."mac".system');
  assert.equal(systemAttr('home-manager', 'alice@h3'), 'homeConfigurations."alice@h3".activationPackage');
  assert.deepEqual([versionFile('nixos'), versionFile('darwin'), versionFile('home-manager')], ['nixos-version', 'darwin-version', 'hm-version']);
  assert.deepEqual(activationCommands('nixos', '/nix/store/x'), [{ argv: ['/nix/store/x/bin/switch-to-configuration', 'switch'], optional: false }]);
  assert.deepEqual(
    activationCommands('darwin', '/nix/store/x').map((c) => c.argv[0]),
    ['/nix/store/x/activate-user', '/nix/store/x/activate'],
  );
});

test('flakeRef: plain paths stay plain, others become git+file URLs; revs pin', () => {
  assert.equal(flakeRef('/etc/nixos'), '/etc/nixos');
  assert.equal(flakeRef('/home/a@b/nixcfg'), 'git+file:///home/a%40b/nixcfg');
  assert.equal(flakeRef('/etc/nixos', 'abc'), 'git+file:///etc/nixos?rev=abc');
});

test('rebuild tool argv per method and platform; option pass-through', () => {
  const opt = ['--option', 'substitute', 'false'];
  assert.deepEqual(rebuildToolArgv('nixos-rebuild', 'nixos', '/c', 'h1', opt), ['nixos-rebuild', 'switch', '--flake', '/c#h1', ...opt]);
  assert.deepEqual(rebuildToolArgv('home-manager', 'home-manager', '/c', 'a@b'), ['home-manager', 'switch', '--flake', '/c#a@b']);
  assert.deepEqual(rebuildToolArgv('nh', 'nixos', '/c', 'h1', opt), ['nh', 'os', 'switch', '/c', '--hostname', 'h1', '--', ...opt]);
  assert.deepEqual(rebuildToolArgv('nh', 'home-manager', '/c', 'a@b'), ['nh', 'home', 'switch', '/c', '--configuration', 'a@b']);
  assert.throws(() => rebuildToolArgv('darwin-rebuild', 'nixos', '/c', 'h1'), /switchMethod darwin-rebuild cannot switch a nixos host/);
});

test('parseLockedInputs finds each input node and its pin; follows and bad files are told apart', () => {
  const lock = JSON.stringify({
    nodes: {
      root: { inputs: { nixfleet: 'nixfleet_2', secrets: 'secrets', nixpkgs: ['nixfleet', 'nixpkgs'] } },
      nixfleet_2: { locked: { rev: 'abc', narHash: 'sha256-x' } },
      secrets: { locked: { narHash: 'sha256-y' } },
    },
    root: 'root',
    version: 7,
  });
  assert.deepEqual(parseLockedInputs(lock, 'f.lock'), [
    { name: 'nixfleet', locked: 'abc' },
    { name: 'secrets', locked: 'sha256-y' },
    { name: 'nixpkgs', follows: ['nixfleet', 'nixpkgs'] },
  ]);
  assert.throws(() => parseLockedInputs('not json', 'f.lock'), /^Error: f\.lock is not valid JSON; fix or delete it/);
  assert.throws(() => parseLockedInputs('{"nodes": {"root": {"inputs": {"a": 3}}}}', 'f.lock'), /f\.lock is not a flake\.lock Nix can read \(at nodes\.root\.inputs\.a: .*\); fix or delete it/);
});

test('readProfile and listGenerations read hand-made links like nix-env makes them', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-unit-'));
  try {
    const store = path.join(dir, 'store');
    for (const v of ['1', '2']) {
      mkdirSync(path.join(store, `sys${v}`), { recursive: true });
      writeFileSync(path.join(store, `sys${v}`, 'nixos-version'), `24.05.${v}\n`);
    }
    const profile = path.join(dir, 'profiles', 'system');
    mkdirSync(path.dirname(profile));
    symlinkSync(path.join(store, 'sys1'), profile + '-1-link');
    symlinkSync(path.join(store, 'sys2'), profile + '-2-link');
    symlinkSync(path.join(store, 'gone'), profile + '-10-link');
    symlinkSync('system-2-link', profile);
    writeFileSync(profile + '-3-link.tmp', ''); // not a generation
    symlinkSync(path.join(store, 'sys1'), path.join(dir, 'profiles', 'system-other-1-link')); // another profile
    const state = readProfile(profile);
    assert.deepEqual(state.links.map((l) => l.generation), [1, 2, 10]);
    assert.equal(state.current, 2);
    assert.deepEqual(readProfile(path.join(dir, 'missing', 'system')), { links: [] });

    const stateDir = path.join(dir, 'state');
    recordRevision(stateDir, path.join(store, 'sys1'), 'a'.repeat(40));
    recordChecks(stateDir, 1, path.join(store, 'sys1'), { passed: true, at: new Date().toISOString() });
    recordChecks(stateDir, 2, path.join(store, 'other'), { passed: true, at: new Date().toISOString() });
    const meta = readMetadata(stateDir);
    assert.equal(checksFor(meta, 2, path.join(store, 'sys2')), undefined, 'a check recorded for another store path does not count');
    const gens = await listGenerations({ profile, platform: 'nixos', stateDir });
    assert.deepEqual(
      gens.map((g) => [g.generation, g.current, g.present, g.systemVersion, g.revision, g.lastKnownWorking]),
      [
        [1, false, true, '24.05.1', 'a'.repeat(40), true],
        [2, true, true, '24.05.2', undefined, false],
        [10, false, false, undefined, undefined, false],
      ],
    );
    // Rollback planning on the same links: 10 is gone, 1 is the previous one.
    const cfg = { config: { host: 'h1', profile, stateDir } } as Parameters<typeof planRollback>[0];
    assert.equal(planRollback(cfg, {}).to.generation, 1);
    assert.throws(() => planRollback(cfg, { to: 10 }), /generation 10 was garbage-collected .*rebuild its configuration with a switch instead/);
    assert.throws(() => planRollback(cfg, { to: 1 }, Date.now() + 31 * 86_400_000), /days old \(more than 30\)/);
    assert.equal(planRollback(cfg, { to: 1, confirmOld: true }, Date.now() + 31 * 86_400_000).to.generation, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('listGenerations notices every change behind its caches', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-unit-'));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    const store = path.join(dir, 'store');
    for (const v of ['1', '2', '3']) {
      mkdirSync(path.join(store, `sys${v}`), { recursive: true });
      writeFileSync(path.join(store, `sys${v}`, 'nixos-version'), `24.05.${v}`);
    }
    const profile = path.join(dir, 'profiles', 'system');
    mkdirSync(path.dirname(profile));
    symlinkSync(path.join(store, 'sys1'), profile + '-1-link');
    symlinkSync(path.join(store, 'sys2'), profile + '-2-link');
    symlinkSync('system-2-link', profile);
    const cfg = { profile, platform: 'nixos' as const, stateDir: path.join(dir, 'state') };
    await sleep(80); // past the same-tick window, so the caches are trusted
    const first = await listGenerations(cfg);
    assert.deepEqual(first.map((g) => g.generation), [1, 2]);
    first[0]!.current = true; // a caller changing its copy
    assert.equal((await listGenerations(cfg))[0]!.current, false);

    // A new generation and a repointed profile.
    symlinkSync(path.join(store, 'sys3'), profile + '-3-link');
    rmSync(profile);
    symlinkSync('system-3-link', profile);
    await sleep(80);
    let gens = await listGenerations(cfg);
    assert.deepEqual(gens.map((g) => [g.generation, g.current, g.systemVersion]), [[1, false, '24.05.1'], [2, false, '24.05.2'], [3, true, '24.05.3']]);

    // A reused generation number with another target.
    rmSync(profile + '-2-link');
    symlinkSync(path.join(store, 'sys1'), profile + '-2-link');
    await sleep(80);
    gens = await listGenerations(cfg);
    assert.equal(gens[1]!.path, path.join(store, 'sys1'));

    // Recorded metadata.
    recordRevision(cfg.stateDir, path.join(store, 'sys3'), 'b'.repeat(40));
    recordChecks(cfg.stateDir, 3, path.join(store, 'sys3'), { passed: true, at: new Date().toISOString() });
    gens = await listGenerations(cfg);
    assert.equal(gens[2]!.revision, 'b'.repeat(40));
    assert.equal(gens[2]!.lastKnownWorking, true);

    // A store path that disappears.
    await sleep(80);
    await listGenerations(cfg);
    rmSync(path.join(store, 'sys3'), { recursive: true });
    gens = await listGenerations(cfg);
    assert.equal(gens[2]!.present, false);
    assert.equal(gens[2]!.lastKnownWorking, false);
    assert.equal(gens[2]!.systemVersion, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the metadata file keeps at most MAX_RECORDS of each kind, dropping the oldest', async () => {
  const { MAX_RECORDS, metadataPath } = await import('../../agent/state/metadata');
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-unit-'));
  try {
    const revisions: Record<string, { revision: string; recordedAt: string }> = {};
    const checks: Record<string, unknown> = {};
    for (let i = 0; i < MAX_RECORDS; i++) {
      revisions[`/nix/store/p${i}`] = { revision: 'c'.repeat(40), recordedAt: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString() };
      checks[String(i + 1)] = { storePath: `/nix/store/p${i}`, outcome: { passed: true, at: new Date().toISOString() } };
    }
    mkdirSync(dir, { recursive: true });
    writeFileSync(metadataPath(dir), JSON.stringify({ version: 1, revisions, checks }));
    recordRevision(dir, '/nix/store/new', 'd'.repeat(40));
    recordChecks(dir, MAX_RECORDS + 1, '/nix/store/new', { passed: false, at: new Date().toISOString() });
    const m = readMetadata(dir);
    assert.equal(Object.keys(m.revisions).length, MAX_RECORDS);
    assert.equal(m.revisions['/nix/store/p0'], undefined);
    assert.equal(m.revisions['/nix/store/new']?.revision, 'd'.repeat(40));
    assert.equal(Object.keys(m.checks).length, MAX_RECORDS);
    assert.equal(m.checks['1'], undefined);
    assert.equal(m.checks[String(MAX_RECORDS + 1)]?.outcome.passed, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('metadata updates start from what this process last read or wrote, and from the file again once another process replaced it', async () => {
  const { metadataPath, readMetadataCached } = await import('../../agent/state/metadata');
  const { StateError } = await import('../../agent/state/metadata');
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-unit-'));
  try {
    recordRevision(dir, '/nix/store/a', 'a'.repeat(40));
    assert.equal(readMetadataCached(dir).revisions['/nix/store/a']?.revision, 'a'.repeat(40));
    // Another process (an older worker, a repair by hand) replaces the file by rename.
    const theirs = { version: 1, revisions: { '/nix/store/b': { revision: 'b'.repeat(40), recordedAt: new Date().toISOString() } }, checks: {} };
    writeFileSync(metadataPath(dir) + '.theirs', JSON.stringify(theirs));
    renameSync(metadataPath(dir) + '.theirs', metadataPath(dir));
    recordChecks(dir, 1, '/nix/store/b', { passed: true, at: new Date().toISOString() });
    const m = readMetadata(dir);
    assert.deepEqual(Object.keys(m.revisions), ['/nix/store/b'], 'their record, not the one this process remembered');
    assert.equal(m.checks['1']?.storePath, '/nix/store/b');
    // What was remembered is never handed out for a file that changed since: a damaged one is reported.
    writeFileSync(metadataPath(dir) + '.bad', '{"version": 1, "revisions": [');
    renameSync(metadataPath(dir) + '.bad', metadataPath(dir));
    assert.throws(() => readMetadataCached(dir), StateError);
    assert.throws(() => recordRevision(dir, '/nix/store/c', 'c'.repeat(40)), StateError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('currentGeneration reads the current link alone and answers as the whole profile read does', async () => {
  const { currentGeneration } = await import('../../agent/nix/profile');
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-unit-'));
  const profile = path.join(dir, 'system');
  const fromWhole = () => {
    const s = readProfile(profile);
    return s.links.find((l) => l.generation === s.current);
  };
  const same = (why: string) => assert.deepEqual(currentGeneration(profile), fromWhole(), why);
  try {
    same('no profile yet');
    assert.equal(currentGeneration(profile), undefined);
    for (let g = 1; g <= 30; g++) symlinkSync(`/nix/store/${String(g).padStart(32, '0')}-nixos-system-h1`, path.join(dir, `system-${g}-link`));
    symlinkSync('system-29-link', profile);
    same('a relative current link');
    assert.equal(currentGeneration(profile)?.generation, 29);
    assert.equal(currentGeneration(profile)?.target, `/nix/store/${String(29).padStart(32, '0')}-nixos-system-h1`);
    rmSync(profile);
    symlinkSync(path.join(dir, 'system-30-link'), profile);
    same('an absolute current link');
    rmSync(path.join(dir, 'system-30-link'));
    same('the current generation was collected');
    assert.equal(currentGeneration(profile), undefined);
    rmSync(profile);
    symlinkSync('elsewhere', profile);
    same('a profile that names no generation');
    rmSync(profile);
    symlinkSync('system-7-link', profile);
    rmSync(path.join(dir, 'system-7-link'));
    symlinkSync('../relative-target', path.join(dir, 'system-7-link'));
    same('a generation link with a relative target');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('metadata recorded during an op is made durable once, at its end, even when its directory went meanwhile', async () => {
  const { metadataPath, syncMetadata } = await import('../../agent/state/metadata');
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-unit-'));
  const gone = mkdtempSync(path.join(tmpdir(), 'nixfleet-unit-'));
  try {
    recordRevision(dir, '/nix/store/a', 'a'.repeat(40));
    recordChecks(dir, 1, '/nix/store/a', { passed: true, at: new Date().toISOString() });
    recordRevision(gone, '/nix/store/b', 'b'.repeat(40));
    rmSync(gone, { recursive: true }); // a standby's rehearsal directory, removed after it
    syncMetadata();
    syncMetadata(); // nothing left to sync
    const m = readMetadata(dir);
    assert.equal(m.revisions['/nix/store/a']?.revision, 'a'.repeat(40));
    assert.equal(m.checks['1']?.outcome.passed, true);
    assert.ok(statSync(metadataPath(dir)).isFile());
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(gone, { recursive: true, force: true });
  }
});

test("past PRUNE_AT records, those of generations the profile no longer has are dropped; the newest revisions stay", async () => {
  const { PRUNE_AT } = await import('../../agent/state/metadata');
  const { generationsOf } = await import('../../agent/nix/profile');
  const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-unit-'));
  try {
    const state = path.join(dir, 'state');
    const profile = path.join(dir, 'profiles', 'system');
    mkdirSync(path.dirname(profile), { recursive: true });
    const sys = (i: number) => `/nix/store/${String(i).padStart(32, '0')}-nixos-system-h1`;
    // A long-lived host: PRUNE_AT switches recorded, of which the profile keeps the last three.
    for (let g = 1; g <= PRUNE_AT; g++) {
      recordRevision(state, sys(g), 'a'.repeat(40));
      recordChecks(state, g, sys(g), { passed: true, at: new Date().toISOString() });
    }
    for (const g of [PRUNE_AT - 2, PRUNE_AT - 1, PRUNE_AT]) symlinkSync(sys(g), `${profile}-${g}-link`);
    symlinkSync(`system-${PRUNE_AT}-link`, profile);
    assert.equal(Object.keys(readMetadata(state).revisions).length, PRUNE_AT, 'nothing dropped without the profile');
    // Generation PRUNE_AT + 1 is switched to: its records bring the count past PRUNE_AT.
    const next = PRUNE_AT + 1;
    symlinkSync(sys(next), `${profile}-${next}-link`);
    recordRevision(state, sys(next), 'b'.repeat(40), generationsOf(profile));
    const m = readMetadata(state);
    const revisions = Object.keys(m.revisions);
    assert.ok(revisions.length <= 32 + 1, `${revisions.length} revisions kept`);
    for (const g of [PRUNE_AT - 2, PRUNE_AT - 1, PRUNE_AT, next]) assert.ok(m.revisions[sys(g)], `generation ${g}'s revision is kept`);
    assert.equal(m.revisions[sys(1)], undefined, 'a collected generation is forgotten');
    recordChecks(state, next, sys(next), { passed: true, at: new Date().toISOString() }, generationsOf(profile));
    assert.deepEqual(Object.keys(readMetadata(state).checks).sort(), [PRUNE_AT - 2, PRUNE_AT - 1, PRUNE_AT, next].map(String).sort());
    // What listGenerations shows for the generations that are left did not change.
    const cfg = { stateDir: state, profile, host: 'h1', platform: 'nixos' as const };
    const gens = await listGenerations(cfg as never);
    assert.equal(gens.find((x) => x.generation === next)?.revision, 'b'.repeat(40));
    assert.equal(gens.find((x) => x.generation === PRUNE_AT)?.revision, 'a'.repeat(40));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parsePorcelainV2: HEAD and tracked changes from git status --porcelain=v2', async () => {
  const { parsePorcelainV2 } = await import('../../agent/git/sync');
  const sha = 'a'.repeat(40);
  assert.deepEqual(parsePorcelainV2(`# branch.oid ${sha}\n# branch.head main\n# branch.upstream origin/main\n# branch.ab +0 -0\n`, '/c', 'h1'), { revision: sha, dirty: false });
  assert.deepEqual(
    parsePorcelainV2(`# branch.oid ${sha}\n# branch.head (detached)\n1 .M N... 100644 100644 100644 x y hosts/h1/version\n`, '/c', 'h1'),
    { revision: sha, dirty: true },
  );
  assert.throws(() => parsePorcelainV2('# branch.oid (initial)\n# branch.head main\n', '/c', 'h1'), /^OpError: host h1: the checkout \/c has no commit yet/);
});
