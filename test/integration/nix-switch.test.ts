// switch and generations against real Nix: two revisions, profile links on disk, what the
// activation scripts recorded, revisions and health checks per generation.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readlinkSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { listGenerations } from '../../agent/nix/generations';
import { executeOp } from '../../agent/ops/registry';
import { OpError } from '../../agent/ops/types';
import { generation as generationSchema } from '../../protocol';
import { createTestBed, testOpContext, type TestBed } from '../fixtures/testbed';

describe('switch (direct) on a nixos host', () => {
  let bed: TestBed;
  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  });
  after(() => bed.cleanup());

  test('two revisions make two generations, activated in order, with revisions and versions recorded', async () => {
    const h = bed.host('h1');
    const rev1 = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: h.checkout, encoding: 'utf8' }).trim();
    const first = await testOpContext(bed, 'h1');
    const r1 = await executeOp('switch', first.ctx, {});
    assert.equal(r1.generationBefore, undefined);
    assert.equal(r1.generationAfter, 1);
    assert.equal(r1.revision, rev1);
    assert.equal(r1.checks, 'passed');
    assert.match(r1.storePath!, /^\/nix\/store\/[a-z0-9]{32}-nixos-system-h1-24\.05\.1$/);

    const rev2 = await bed.setVersion('h1', '24.05.2');
    const second = await testOpContext(bed, 'h1');
    const r2 = await executeOp('switch', second.ctx, { rev: rev2 });
    assert.equal(r2.generationBefore, 1);
    assert.equal(r2.generationAfter, 2);
    assert.equal(r2.revision, rev2);
    assert.match(r2.storePath!, /-nixos-system-h1-24\.05\.2$/);

    // The profile links on disk.
    assert.equal(readlinkSync(h.profile), 'system-2-link');
    assert.equal(readlinkSync(h.profile + '-1-link'), r1.storePath);
    assert.equal(readlinkSync(h.profile + '-2-link'), r2.storePath);
    // The checkout was brought to rev2.
    assert.equal(readFileSync(path.join(h.checkout, 'hosts/h1/version'), 'utf8').trim(), '24.05.2');

    // What the activation scripts recorded: one `switch-to-configuration switch` per switch.
    assert.deepEqual(bed.activations('h1'), [
      { script: 'switch-to-configuration', storePath: r1.storePath, args: ['switch'] },
      { script: 'switch-to-configuration', storePath: r2.storePath, args: ['switch'] },
    ]);
    // The build ran as nix build --json --no-link, then nix-env --set.
    const build = second.commands.find((c) => c[0] === 'nix' && c[1] === 'build')!;
    assert.deepEqual(build.slice(0, 4), ['nix', 'build', '--json', '--no-link']);
    assert.ok(second.commands.some((c) => c.join(' ') === `nix-env -p ${h.profile} --set ${r2.storePath}`));
    // Build logs reach the journal (nix build --print-build-logs).
    assert.ok(second.lines.some((l) => l.stream === 'stderr' && l.text.includes(`test bed: building ${r2.storePath}`)), 'build log in the journal');

    const gens = await listGenerations(second.config);
    for (const g of gens) generationSchema.parse(g);
    assert.deepEqual(
      gens.map((g) => [g.generation, g.current, g.present, g.systemVersion, g.revision, g.checks?.passed, g.lastKnownWorking]),
      [
        [1, false, true, '24.05.1', rev1, true, false],
        [2, true, true, '24.05.2', rev2, true, true],
      ],
    );
    assert.ok(Math.abs(Date.parse(gens[1]!.createdAt) - Date.now()) < 60_000);
  });

  test('a failing activation switches the profile back and re-activates the previous generation', async () => {
    const h = bed.host('h1');
    const rev3 = await bed.setVersion('h1', '24.05.3');
    bed.setFail('h1', true);
    const { ctx } = await testOpContext(bed, 'h1');
    const activationsBefore = bed.activations('h1').length;
    try {
      await assert.rejects(executeOp('switch', ctx, { rev: rev3 }), (err: unknown) => {
        assert.ok(err instanceof OpError);
        assert.match(err.message, /^host h1: activation of generation 3 failed .*generation 2 /);
        assert.match(err.message, /; the checkout was put back at [0-9a-f]{12}$/);
        // The result says where the host is: back on 2; 3 was made and undone.
        assert.equal(err.result?.generationAfter, 2);
        assert.equal(err.result?.generationFailed, 3);
        return true;
      });
    } finally {
      bed.setFail('h1', false);
    }
    assert.equal(readlinkSync(h.profile), 'system-2-link');
    // The checkout is back on main at the commit generation 2 was built from.
    assert.equal(execFileSync('git', ['rev-parse', 'HEAD'], { cwd: h.checkout, encoding: 'utf8' }).trim(), (await listGenerations(ctx.config))[1]!.revision);
    assert.equal(execFileSync('git', ['symbolic-ref', '--short', 'HEAD'], { cwd: h.checkout, encoding: 'utf8' }).trim(), 'main');
    const acts = bed.activations('h1').slice(activationsBefore);
    assert.equal(acts.length, 2);
    assert.match(acts[0]!.storePath, /24\.05\.3$/);
    assert.match(acts[1]!.storePath, /24\.05\.2$/);
  });

  test('a failing build leaves profile and checkout as they were', async () => {
    const h = bed.host('h1');
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: h.checkout, encoding: 'utf8' }).trim();
    const broken = await bed.commit({ 'hosts/h1/packages.json': '{ not json' }, 'broken packages');
    const { ctx, lines } = await testOpContext(bed, 'h1');
    await assert.rejects(executeOp('switch', ctx, { rev: broken }), (err: unknown) => {
      assert.ok(err instanceof OpError);
      assert.match(err.message, /^host h1: building .*#nixosConfigurations\."h1"\.config\.system\.build\.toplevel failed \(.*\); fix the configuration .*; the checkout was put back at /);
      return true;
    });
    assert.ok(lines.some((l) => l.stream === 'stderr' && /error/.test(l.text)), 'the build error is in the journal');
    assert.equal(readlinkSync(h.profile), 'system-2-link');
    assert.equal(execFileSync('git', ['rev-parse', 'HEAD'], { cwd: h.checkout, encoding: 'utf8' }).trim(), head);
    await bed.commit({ 'hosts/h1/packages.json': JSON.stringify({ openssl: '3.0.2', hello: '2.12.1' }) + '\n' }, 'fix packages');
  });

  test('git failing beside the build: the build is stopped, the op fails with git\'s error, nothing changed', async () => {
    const h = bed.host('h1');
    const profileBefore = readlinkSync(h.profile);
    const index = path.join(h.checkout, '.git', 'index');
    const good = readFileSync(index);
    // A damaged index: git status refuses it ("index file smaller than expected").
    writeFileSync(index, 'DIRC');
    try {
      const { ctx, lines, commands } = await testOpContext(bed, 'h1');
      await assert.rejects(executeOp('switch', ctx, {}), (err: unknown) => {
        assert.ok(err instanceof OpError);
        assert.match(err.message, /^host h1: git status in .* failed: .*; fix the checkout/);
        return true;
      });
      assert.ok(commands.some((c) => c[0] === 'nix' && c[1] === 'build'), 'the build had started beside git');
      assert.ok(!lines.some((l) => /^built \/nix\/store\//.test(l.text)), 'no build result was taken');
      assert.ok(!commands.some((c) => c[0] === 'nix-env'), 'the profile was not touched');
      assert.equal(readlinkSync(h.profile), profileBefore);
    } finally {
      writeFileSync(index, good);
    }
  });

  test('failing health checks are recorded for the new generation and lastKnownWorking stays on the passing one', async () => {
    const h = bed.host('h1');
    const rev4 = await bed.setVersion('h1', '24.05.4');
    const marker = path.join(bed.root, 'healthy');
    const { ctx, lines } = await testOpContext(bed, 'h1', { overrides: { healthChecks: [['test', '-e', marker]], healthCheckTimeout: 5 } });
    await assert.rejects(executeOp('switch', ctx, { rev: rev4 }), (err: unknown) => {
      assert.ok(err instanceof OpError);
      assert.match(err.message, /^host h1: health checks failed on generation 4 \(test -e .*healthy exited with code 1\)/);
      assert.equal(err.result?.checks, 'failed');
      return true;
    });
    assert.ok(lines.some((l) => /health check 1\/1: test -e .*: FAILED/.test(l.text)));
    let gens = await listGenerations(ctx.config);
    const g4 = gens.find((g) => g.generation === 4)!;
    assert.equal(g4.current, true);
    assert.equal(g4.checks?.passed, false);
    assert.equal(gens.find((g) => g.lastKnownWorking)?.generation, 2);

    // The test op re-runs the checks: once the marker exists they pass and gen 4 is last known working.
    writeFileSync(marker, '');
    const t = await testOpContext(bed, 'h1', { kind: 'test', overrides: { healthChecks: [['test', '-e', marker]] } });
    const r = await executeOp('test', t.ctx, {});
    assert.equal(r.checks, 'passed');
    assert.equal(r.generationAfter, 4);
    gens = await listGenerations(ctx.config);
    assert.equal(gens.find((g) => g.lastKnownWorking)?.generation, 4);
    assert.equal(readlinkSync(h.profile), 'system-4-link');
  });

  test('rollbackOnCheckFailure restores the previous generation when checks fail', async () => {
    const h = bed.host('h1');
    const rev5 = await bed.setVersion('h1', '24.05.5');
    const { ctx } = await testOpContext(bed, 'h1', { overrides: { healthChecks: [['false']], rollbackOnCheckFailure: true } });
    await assert.rejects(executeOp('switch', ctx, { rev: rev5 }), (err: OpError) => {
      assert.match(err.message, /health checks failed on generation 5 .*rollbackOnCheckFailure: generation 4 was restored and re-activated/);
      // The result says where the host ended up (as magic rollback's does), not the failed generation.
      assert.equal(err.result?.generationBefore, 4);
      assert.equal(err.result?.generationAfter, 4);
      assert.equal(err.result?.generationFailed, 5);
      assert.equal(err.result?.checks, 'failed');
      return true;
    });
    assert.equal(readlinkSync(h.profile), 'system-4-link');
    assert.match(bed.activations('h1').at(-1)!.storePath, /24\.05\.4$/);
  });
});
