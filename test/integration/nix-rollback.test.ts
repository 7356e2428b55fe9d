// rollback against real Nix: to a chosen generation (profile link and activation checked),
// and refusals for missing, garbage-collected, current and too-old targets, each before
// anything changes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { listGenerations } from '../../agent/nix/generations';
import { executeOp } from '../../agent/ops/registry';
import { OpError } from '../../agent/ops/types';
import { createTestBed, testOpContext, type TestBed } from '../fixtures/testbed';

describe('rollback', () => {
  let bed: TestBed;
  const paths: string[] = [];
  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    // Four generations: 24.05.1 .. 24.05.4.
    for (let i = 1; i <= 4; i++) {
      const rev = i === 1 ? undefined : await bed.setVersion('h1', `24.05.${i}`);
      const { ctx } = await testOpContext(bed, 'h1');
      const r = await executeOp('switch', ctx, rev ? { rev } : {});
      paths.push(r.storePath!);
    }
  });
  after(() => bed.cleanup());

  async function refused(params: Record<string, unknown>, pattern: RegExp): Promise<void> {
    const h = bed.host('h1');
    const linkBefore = readlinkSync(h.profile);
    const activations = bed.activations('h1').length;
    const { ctx, commands } = await testOpContext(bed, 'h1', { kind: 'rollback' });
    await assert.rejects(executeOp('rollback', ctx, params), (err: unknown) => {
      assert.ok(err instanceof OpError, String(err));
      assert.match(err.message, pattern);
      return true;
    });
    assert.deepEqual(commands, [], 'nothing may run when a rollback is refused');
    assert.equal(readlinkSync(h.profile), linkBefore);
    assert.equal(bed.activations('h1').length, activations);
  }

  test('to a chosen generation: profile link, activation of that store path, checks re-run', async () => {
    const h = bed.host('h1');
    const { ctx, lines } = await testOpContext(bed, 'h1', { kind: 'rollback', overrides: { healthChecks: [['true']] } });
    const r = await executeOp('rollback', ctx, { to: 2 });
    assert.equal(r.generationBefore, 4);
    assert.equal(r.generationAfter, 2);
    assert.equal(r.storePath, paths[1]);
    assert.equal(r.checks, 'passed');
    assert.equal(readlinkSync(h.profile), 'system-2-link');
    assert.deepEqual(bed.activations('h1').at(-1), { script: 'switch-to-configuration', storePath: paths[1], args: ['switch'] });
    assert.ok(lines.some((l) => l.text.includes('health check 1/1: true: passed')));
    const gens = await listGenerations(ctx.config);
    assert.equal(gens.find((g) => g.current)?.generation, 2);
    assert.equal(gens.find((g) => g.generation === 2)?.checks?.passed, true);
  });

  test('without a target: the previous generation (the newest one below the current)', async () => {
    const h = bed.host('h1');
    const { ctx } = await testOpContext(bed, 'h1', { kind: 'rollback' });
    const r = await executeOp('rollback', ctx, {});
    assert.equal(r.generationBefore, 2);
    assert.equal(r.generationAfter, 1);
    assert.equal(readlinkSync(h.profile), 'system-1-link');
    assert.equal(bed.activations('h1').at(-1)!.storePath, paths[0]);
  });

  test('refuses: no previous generation at the oldest', async () => {
    await refused({}, /^host h1: generation 1 is the oldest generation; there is no previous one/);
  });

  test('refuses: a generation that does not exist', async () => {
    await refused({ to: 9 }, /^host h1: generation 9 does not exist \(it was deleted or never existed; generations: 1-4\)/);
  });

  test('refuses: the current generation', async () => {
    await refused({ to: 1 }, /^host h1: generation 1 is already the current generation/);
  });

  test('refuses: a target older than 30 days without confirmOld, accepts it with confirmOld', async () => {
    const h = bed.host('h1');
    execFileSync('touch', ['-h', '-d', '45 days ago', `${h.profile}-3-link`]);
    await refused({ to: 3 }, /^host h1: generation 3 is from \d{4}-\d\d-\d\d, 4[45] days old \(more than 30\); confirm the rollback/);
    const { ctx } = await testOpContext(bed, 'h1', { kind: 'rollback' });
    const r = await executeOp('rollback', ctx, { to: 3, confirmOld: true });
    assert.equal(r.generationAfter, 3);
    assert.equal(readlinkSync(h.profile), 'system-3-link');
  });

  test('refuses: a garbage-collected generation (its store path deleted)', async () => {
    const h = bed.host('h1');
    // paths[3] (24.05.4) embeds this bed's root, so no other test uses it. Profile links are
    // GC roots, so only --ignore-liveness removes it while generation 4 still names it.
    execFileSync('nix-store', ['--delete', '--ignore-liveness', paths[3]!], { stdio: 'ignore' });
    const gens = await listGenerations((await testOpContext(bed, 'h1')).config);
    const g4 = gens.find((g) => g.generation === 4)!;
    assert.equal(g4.present, false);
    assert.equal(g4.systemVersion, undefined);
    assert.equal(g4.lastKnownWorking, false);
    await refused({ to: 4 }, /^host h1: generation 4 was garbage-collected \(.*24\.05\.4 is gone\), so it cannot be rolled back to; rebuild it with a switch to revision [0-9a-f]{40}$/);
    assert.equal(readlinkSync(h.profile), 'system-3-link');
  });

  test('refuses invalid generation numbers before anything runs', async () => {
    for (const to of [0, -1, 1.5, '2', '2; rm -rf /', 2 ** 31]) {
      await refused({ to }, /^host h1: invalid parameters for rollback: to: /);
    }
  });
});
