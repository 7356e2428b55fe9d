// Offline (unreachable remote detected with a bounded check, --offline, offlineMode) and
// --dry-run (every command printed, none run: git state, profile, doubles' logs unchanged),
// including through the justfile and the real agent CLI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import type { TestBed } from '../fixtures/testbed';
import { currentGenerationOf, git, gitRaw, phaseStatus, runSmart, sharedBed, upstream, usePath } from './rebuild-smart-fixtures';

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
let bed: TestBed;
sharedBed((b) => (bed = b));

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

test('unreachable remote: offline detected, network phases skipped with a warning, rebuild and local commit still done', async () => {
  const h = bed.host('h1');
  const port = await closedPort();
  await git(h.checkout, 'remote', 'set-url', 'origin', `http://127.0.0.1:${port}/nixcfg.git`);
  try {
    writeFileSync(path.join(h.checkout, 'hosts/h1/version'), '24.05.30\n');
    const originBefore = await git(bed.origin, 'rev-parse', 'main');
    const r = await runSmart(bed, {});
    assert.equal(r.error, undefined, r.error?.message + '\n' + r.journal.text());
    const st = phaseStatus(r.outcome);
    assert.equal(st.upstream, 'skipped');
    assert.equal(st.rebuild, 'done');
    assert.equal(st.commit, 'warning');
    assert.equal(r.outcome.offline, true);
    const info = r.journal.info();
    assert.ok(info.some((l) => /^⏭ upstream: skipped \(offline: origin \(http:\/\/127\.0\.0\.1:[0-9]+\/nixcfg\.git\) is unreachable/.test(l)), info.join('\n'));
    assert.ok(info.some((l) => l.startsWith('⚠ commit') && l.includes('not pushed: offline')));
    assert.ok((r.outcome.warnings as string[]).some((w) => w.startsWith('offline (origin')));
    // Built and committed locally, nothing pushed.
    assert.equal(readFileSync(path.join(currentGenerationOf(h.profile)!.path, 'nixos-version'), 'utf8'), '24.05.30');
    assert.match(await git(h.checkout, 'log', '-1', '--format=%s'), /^h1: rebuild-smart generation/);
    assert.equal(await git(bed.origin, 'rev-parse', 'main'), originBefore);
  } finally {
    await git(h.checkout, 'remote', 'set-url', 'origin', bed.origin);
  }
});

test('a remote that accepts but never answers: the reachability check gives up (bounded) and goes offline', async () => {
  const h = bed.host('h1');
  const sockets: net.Socket[] = [];
  const srv = net.createServer((s) => sockets.push(s)); // accepts, never answers
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await git(h.checkout, 'remote', 'set-url', 'origin', `http://127.0.0.1:${port}/nixcfg.git`);
  try {
    const r = await runSmart(bed, { autoCommit: false });
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.outcome.offline, true);
    assert.match(r.journal.info().find((l) => l.startsWith('⏭ upstream'))!, /unreachable: .*timeout/);
  } finally {
    for (const s of sockets) s.destroy();
    srv.close();
    await git(h.checkout, 'remote', 'set-url', 'origin', bed.origin);
  }
});

test('--offline and offlineMode skip the network without even checking it', async () => {
  const h = bed.host('h1');
  await upstream(bed, (b) => b.setVersion('h1', '24.05.31'));
  const originRef = await git(h.checkout, 'rev-parse', 'origin/main');
  for (const [params, config, reason] of [
    [{ offline: true }, {}, '--offline'],
    [{}, { offlineMode: true }, 'offlineMode is set in the agent config'],
  ] as const) {
    const r = await runSmart(bed, { ...params, autoCommit: false }, { config });
    assert.equal(r.error, undefined, r.error?.message);
    assert.ok(r.journal.info().includes(`⏭ upstream: skipped (offline: ${reason})`), r.journal.info().join('\n'));
    assert.ok(!r.journal.text().includes('ls-remote'), 'no reachability check');
    assert.equal(await git(h.checkout, 'rev-parse', 'origin/main'), originRef, 'nothing fetched');
  }
});

/** Everything a dry run must leave alone, as one comparable snapshot. */
async function snapshot(checkout: string, profile: string, extra: string[]) {
  const gitDir = path.join(checkout, '.git');
  const profileDir = path.dirname(profile);
  return {
    head: await git(checkout, 'rev-parse', 'HEAD'),
    refs: await git(checkout, 'for-each-ref', '--format=%(refname) %(objectname)'),
    stash: await git(checkout, 'stash', 'list'),
    status: await gitRaw(checkout, 'status', '--porcelain', '--untracked-files=all'),
    fetchHead: existsSync(path.join(gitDir, 'FETCH_HEAD')) ? statSync(path.join(gitDir, 'FETCH_HEAD')).mtimeMs : 0,
    index: statSync(path.join(gitDir, 'index')).mtimeMs,
    profileLinks: readdirSync(profileDir).sort().join(','),
    current: currentGenerationOf(profile),
    files: extra.map((f) => (existsSync(f) ? readFileSync(f, 'utf8') : '<absent>')),
  };
}

test('--dry-run prints every command and runs none: git state, profile, doubles and dotfiles unchanged', async () => {
  const h = bed.host('h1');
  usePath(bed, { nh: true, chezmoi: true });
  // chezmoi set up: a source dir (a git repo) managing ~/.bashrc, which has a local edit.
  const home = path.join(bed.root, 'home');
  const src = path.join(home, '.local/share/chezmoi');
  mkdirSync(src, { recursive: true });
  writeFileSync(path.join(src, 'dot_bashrc'), 'export A=1\n');
  await git(src, 'init', '-q');
  await git(src, 'add', '-A');
  await git(src, 'commit', '-q', '-m', 'dotfiles');
  writeFileSync(path.join(home, '.bashrc'), 'export A=2\n');
  const oldHome = process.env.HOME;
  process.env.HOME = home;
  try {
    await upstream(bed, (b) => b.setVersion('h1', '24.05.40'));
    writeFileSync(path.join(h.checkout, 'README.md'), 'uncommitted\n');
    const doublesBefore = readFileSync(bed.doubleLog, 'utf8');
    const extra = [path.join(src, 'dot_bashrc'), path.join(home, '.bashrc'), h.activationLog, path.join(h.checkout, 'flake.lock')];
    const before = await snapshot(h.checkout, h.profile, extra);
    const srcHead = await git(src, 'rev-parse', 'HEAD');

    const r = await runSmart(bed, { dryRun: true, update: true });
    assert.equal(r.error, undefined, r.error?.message);
    assert.deepEqual(await snapshot(h.checkout, h.profile, extra), before, 'nothing changed');
    assert.equal(await git(src, 'rev-parse', 'HEAD'), srcHead);
    assert.equal(readFileSync(bed.doubleLog, 'utf8'), doublesBefore, 'no test double (nh, chezmoi) was started');

    const planned = r.outcome.plannedCommands as string[];
    const has = (re: RegExp) => assert.ok(planned.some((c) => re.test(c)), `${re} in:\n${planned.join('\n')}`);
    has(/^git fetch --prune origin /);
    has(/^git stash push --include-untracked/);
    has(/^git rebase origin\/main /);
    has(/chezmoi re-add$/);
    has(/^nix flake update /);
    has(/nh os switch .* --hostname h1$/);
    has(/^git push origin HEAD:refs\/heads\/main /);
    const printed = r.journal.info().filter((l) => l.startsWith('[dry-run] would run: '));
    assert.equal(printed.length, planned.length, 'each planned command is printed');
    assert.ok(r.journal.info().includes(`dry run: ${planned.length} command(s) would run; none was run`));
    assert.ok(!r.journal.lines.some((l) => l.text.startsWith('$ ')), 'no command line was run');
  } finally {
    process.env.HOME = oldHome;
    usePath(bed, {});
  }
});

// `just` is not in Debian 12: the npm package rust-just-linux-x64 (an optional dependency,
// so other platforms can still `npm ci`) ships the binary.
const just = path.join(repoRoot, 'node_modules/rust-just-linux-x64/bin/just');
const justSkip = process.platform === 'linux' && process.arch === 'x64' ? false : 'just is only installed on linux-x64';

test('the justfile recipes run the agent CLI: rebuild-smart-dry changes nothing, rebuild-smart-offline rebuilds', { skip: justSkip }, async () => {
  const h = bed.host('h1');
  assert.ok(existsSync(just), 'just (npm rust-just-linux-x64) is installed');
  const wrapper = path.join(bed.root, 'nixfleet-agent');
  writeFileSync(wrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(repoRoot, 'dist/agent.js'))} "$@"\n`);
  chmodSync(wrapper, 0o755);
  const config = bed.writeConfig('h1');
  const env = { ...process.env, NIXFLEET_AGENT: wrapper, NIXFLEET_AGENT_CONFIG: config };
  const runJust = (...args: string[]) => spawnSync(just, ['--justfile', path.join(repoRoot, 'justfile'), ...args], { env, encoding: 'utf8', timeout: 120_000 });

  const headBefore = await git(h.checkout, 'rev-parse', 'HEAD');
  const genBefore = currentGenerationOf(h.profile);
  const dry = runJust('rebuild-smart-dry');
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stderr, /dry run: [0-9]+ command\(s\) would run; none was run/);
  assert.equal(await git(h.checkout, 'rev-parse', 'HEAD'), headBefore);
  assert.deepEqual(currentGenerationOf(h.profile), genBefore);

  writeFileSync(path.join(h.checkout, 'hosts/h1/version'), '24.05.41\n');
  const off = runJust('rebuild-smart-offline', '--skip-dotfiles');
  assert.equal(off.status, 0, off.stderr);
  assert.match(off.stderr, /⏭ upstream: skipped \(offline: --offline\)/);
  assert.match(off.stderr, /Rebuild Smart on h1: succeeded/);
  assert.equal(readFileSync(path.join(currentGenerationOf(h.profile)!.path, 'nixos-version'), 'utf8'), '24.05.41');

  const bad = runJust('rebuild-smart', '--no-such-flag');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /no-such-flag/);
});
