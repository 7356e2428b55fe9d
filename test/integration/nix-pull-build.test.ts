// pull, build (closure diff) and self-update (dry run) against real git and real Nix.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readCheckout } from '../../agent/git/status';
import { executeOp } from '../../agent/ops/registry';
import { OpError } from '../../agent/ops/types';
import { updateInputCommand } from '../fixtures/nixSpelling';
import { createTestBed, testOpContext, type TestBed } from '../fixtures/testbed';

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

describe('pull', () => {
  let bed: TestBed;
  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  });
  after(() => bed.cleanup());

  test('fast-forwards to the upstream; status shows behind before and clean after', async () => {
    const h = bed.host('h1');
    const rev = await bed.setVersion('h1', '24.05.2');
    git(h.checkout, 'fetch', '-q');
    const st = await readCheckout({ flake: h.checkout });
    assert.equal(st.behind, 1);
    assert.equal(st.ahead, 0);
    assert.equal(st.branch, 'main');
    assert.equal(st.dirty, false);
    assert.equal(st.error, undefined);
    const { ctx } = await testOpContext(bed, 'h1', { kind: 'pull' });
    const r = await executeOp('pull', ctx, {});
    assert.equal(r.revision, rev);
    assert.equal(r.changed, true);
    assert.equal(git(h.checkout, 'rev-parse', 'HEAD'), rev);
    assert.equal(git(h.checkout, 'symbolic-ref', '--short', 'HEAD'), 'main');
    const again = await executeOp('pull', (await testOpContext(bed, 'h1', { kind: 'pull' })).ctx, {});
    assert.equal(again.changed, false);
  });

  test('refuses with local changes and leaves the checkout exactly as it was', async () => {
    const h = bed.host('h1');
    await bed.setVersion('h1', '24.05.3');
    const head = git(h.checkout, 'rev-parse', 'HEAD');
    const file = path.join(h.checkout, 'hosts/h1/version');
    writeFileSync(file, 'local edit\n');
    try {
      const { ctx } = await testOpContext(bed, 'h1', { kind: 'pull' });
      await assert.rejects(executeOp('pull', ctx, {}), (err: unknown) => {
        assert.ok(err instanceof OpError);
        assert.match(err.message, /^host h1: the nixcfg checkout .* has local changes \(hosts\/h1\/version\); commit or discard them before pulling$/);
        return true;
      });
      assert.equal(git(h.checkout, 'rev-parse', 'HEAD'), head);
      assert.equal(readFileSync(file, 'utf8'), 'local edit\n');
      assert.equal((await readCheckout({ flake: h.checkout })).dirty, true);
    } finally {
      git(h.checkout, 'checkout', '--', 'hosts/h1/version');
    }
  });

  test('refuses when the checkout has diverged from its upstream', async () => {
    const h = bed.host('h1');
    writeFileSync(path.join(h.checkout, 'local.txt'), 'x\n');
    git(h.checkout, 'add', 'local.txt');
    git(h.checkout, 'commit', '-q', '-m', 'local commit');
    const head = git(h.checkout, 'rev-parse', 'HEAD');
    const { ctx } = await testOpContext(bed, 'h1', { kind: 'pull' });
    await assert.rejects(executeOp('pull', ctx, {}), /^OpError: host h1: the checkout .* has diverged from origin\/main; rebase or reset it by hand/);
    assert.equal(git(h.checkout, 'rev-parse', 'HEAD'), head);
    git(h.checkout, 'reset', '-q', '--hard', 'origin/main');
  });

  test('to a rev: older commits are checked out detached, newer ones fast-forwarded', async () => {
    const h = bed.host('h1');
    const first = git(bed.workstation, 'rev-list', '--max-parents=0', 'HEAD');
    const { ctx } = await testOpContext(bed, 'h1', { kind: 'pull' });
    const r = await executeOp('pull', ctx, { rev: first.slice(0, 12) });
    assert.equal(r.revision, first);
    assert.equal(r.branch, undefined);
    const st = await readCheckout({ flake: h.checkout });
    assert.equal(st.revision, first);
    assert.equal(st.branch, undefined);
    // Back onto main by ref.
    const back = await executeOp('pull', (await testOpContext(bed, 'h1', { kind: 'pull' })).ctx, { ref: 'main' });
    assert.equal(back.revision, git(bed.workstation, 'rev-parse', 'HEAD'));
    assert.equal(back.branch, 'main');
  });

  test('ahead of the upstream only (local commits): nothing to fast-forward, nothing lost', async () => {
    const h = bed.host('h1');
    git(h.checkout, 'commit', '-q', '--allow-empty', '-m', 'local only');
    const head = git(h.checkout, 'rev-parse', 'HEAD');
    const { ctx, lines } = await testOpContext(bed, 'h1', { kind: 'pull' });
    const r = await executeOp('pull', ctx, {});
    assert.equal(r.changed, false);
    assert.equal(git(h.checkout, 'rev-parse', 'HEAD'), head);
    assert.ok(lines.some((l) => l.text === 'main has local commits not on origin/main; nothing to fast-forward'));
    git(h.checkout, 'reset', '-q', '--hard', 'origin/main');
  });

  test('a rev that exists nowhere is refused clearly', async () => {
    const { ctx } = await testOpContext(bed, 'h1', { kind: 'pull' });
    await assert.rejects(executeOp('pull', ctx, { rev: 'deadbeefdeadbeef' }), /^OpError: host h1: commit deadbeefdeadbeef is neither in the checkout .* nor on its remote "origin"; push it first/);
  });

  test('readCheckout reports a broken checkout in `error` and hashes flake.lock', async () => {
    const st = await readCheckout({ flake: path.join(bed.root, 'nope') });
    assert.match(st.error!, /^cannot read the nixcfg checkout .*nope: /);
    const h = bed.host('h1');
    writeFileSync(path.join(h.checkout, 'flake.lock'), '{"nodes":{"root":{}},"root":"root","version":7}\n');
    const withLock = await readCheckout({ flake: h.checkout });
    assert.match(withLock.lockHash!, /^[0-9a-f]{64}$/);
  });
});

describe('build and self-update', () => {
  let bed: TestBed;
  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const { ctx } = await testOpContext(bed, 'h1');
    await executeOp('switch', ctx, {});
  });
  after(() => bed.cleanup());

  test('build at a rev: closure diff against the current generation, nothing activated, checkout untouched', async () => {
    const h = bed.host('h1');
    const head = git(h.checkout, 'rev-parse', 'HEAD');
    const rev = await bed.setPackages('h1', { openssl: '3.0.3', hello: '2.12.1', curl: '8.5.0' });
    const activations = bed.activations('h1').length;
    const link = readlinkSync(h.profile);
    const { ctx, lines } = await testOpContext(bed, 'h1', { kind: 'build' });
    const r = await executeOp('build', ctx, { rev });
    assert.equal(r.revision, rev);
    assert.match(r.storePath!, /^\/nix\/store\/.*-nixos-system-h1-24\.05\.1$/);
    assert.notEqual(r.storePath, readlinkSync(h.profile + '-1-link'));
    const diff = r.closureDiff as string[];
    assert.ok(diff.includes('openssl: 3.0.2 → 3.0.3'), diff.join('\n'));
    assert.ok(diff.some((l) => /^curl: ∅ → 8\.5\.0/.test(l)), diff.join('\n'));
    assert.ok(lines.some((l) => l.text === 'closure diff: openssl: 3.0.2 → 3.0.3'));
    assert.equal(bed.activations('h1').length, activations);
    assert.equal(readlinkSync(h.profile), link);
    assert.equal(git(h.checkout, 'rev-parse', 'HEAD'), head);
  });

  test('build of the current configuration: no closure change', async () => {
    const { ctx } = await testOpContext(bed, 'h1', { kind: 'build' });
    const r = await executeOp('build', ctx, {});
    assert.deepEqual(r.closureDiff, []);
    assert.match(r.message!, /builds the current generation 1; nothing would change/);
  });

  test('self-update needs the agent input in flake.lock', async () => {
    const { ctx, commands } = await testOpContext(bed, 'h1', { kind: 'self-update' });
    await assert.rejects(executeOp('self-update', ctx, { dryRun: true }), /^OpError: host h1: cannot read .*flake\.lock \(ENOENT\); self-update needs a flake\.lock pinning the agent input "nixfleet"/);
    assert.deepEqual(commands, []);
  });

  test('self-update dry run prints the commands it would run and runs none', async () => {
    const h = bed.host('h1');
    const lock = {
      nodes: {
        root: { inputs: { nixfleet: 'nixfleet' } },
        nixfleet: { locked: { type: 'path', path: '/srv/nixfleet', narHash: 'sha256-AAAA' }, original: { type: 'path', path: '/srv/nixfleet' } },
      },
      root: 'root',
      version: 7,
    };
    writeFileSync(path.join(h.checkout, 'flake.lock'), JSON.stringify(lock));
    const link = readlinkSync(h.profile);
    const head = git(h.checkout, 'rev-parse', 'HEAD');
    const { ctx, commands, lines } = await testOpContext(bed, 'h1', { kind: 'self-update', overrides: { healthChecks: [['systemctl', 'is-system-running']] } });
    const r = await executeOp('self-update', ctx, { dryRun: true, verify: true });
    assert.deepEqual(commands, []);
    assert.equal(r.dryRun, true);
    assert.equal(r.agentVersionBefore, '0.0.0-test');
    assert.equal(r.verify, true);
    const printed = lines.filter((l) => l.stream === 'stdout').map((l) => l.text);
    assert.deepEqual(printed.slice(0, 3), ['git fetch --prune origin', "git merge --ff-only '@{upstream}'", updateInputCommand('nixfleet')]);
    assert.ok(printed.some((l) => l.startsWith('nix build --json --no-link --option narinfo-cache-negative-ttl 0 ')));
    assert.ok(printed.includes(`nix-env -p ${h.profile} --set '<built store path>'`), printed.join('\n'));
    assert.equal(printed.at(-1), 'systemctl is-system-running');
    assert.equal(readlinkSync(h.profile), link);
    assert.equal(git(h.checkout, 'rev-parse', 'HEAD'), head);
  });
});
