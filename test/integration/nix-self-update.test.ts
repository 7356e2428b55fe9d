// self-update for real: the nixcfg flake pins the agent through input "nixfleet" (a local
// path); a new agent source is picked up by the lock update, committed on the host, and
// force-rebuilt into a new generation whose closure carries the new agent version.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { listGenerations } from '../../agent/nix/generations';
import { executeOp } from '../../agent/ops/registry';
import { createTestBed, testOpContext, type TestBed } from '../fixtures/testbed';

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

describe('self-update', () => {
  let bed: TestBed;
  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }], agentInput: true });
    const { ctx } = await testOpContext(bed, 'h1');
    await executeOp('switch', ctx, {});
  });
  after(() => bed.cleanup());

  test('pulls, updates the agent input, commits flake.lock, force-rebuilds, checks', async () => {
    const h = bed.host('h1');
    const upstream = await bed.setVersion('h1', '24.05.2');
    bed.setAgentVersion('1.0.1');
    const { ctx, commands } = await testOpContext(bed, 'h1', { kind: 'self-update', overrides: { healthChecks: [['true']] } });
    const r = await executeOp('self-update', ctx, { verify: true });
    assert.equal(r.agentVersionBefore, '0.0.0-test');
    assert.equal(r.verify, true);
    assert.equal(r.generationBefore, 1);
    assert.equal(r.generationAfter, 2);
    assert.equal(r.checks, 'passed');
    assert.notEqual(r.inputBefore, r.inputAfter);
    assert.match(String(r.inputAfter), /^sha256-/);
    // The lock update was committed on top of the pulled upstream commit.
    assert.equal(r.lockCommit, git(h.checkout, 'rev-parse', 'HEAD'));
    assert.equal(git(h.checkout, 'rev-parse', 'HEAD~1'), upstream);
    assert.equal(git(h.checkout, 'log', '-1', '--format=%s'), 'self-update: update flake input nixfleet');
    assert.equal(git(h.checkout, 'status', '--porcelain'), '');
    assert.equal(r.revision, r.lockCommit);
    // The commands, in order: lock update spelled for this Nix, then the forced build.
    const lockUpdate = commands.findIndex((c) => c.join(' ') === ctx.nix.flakeUpdateInput('nixfleet').join(' '));
    const build = commands.findIndex((c) => c[0] === 'nix' && c[1] === 'build');
    assert.ok(lockUpdate >= 0 && build > lockUpdate, JSON.stringify(commands));
    assert.deepEqual(commands[build]!.slice(4, 7), ['--option', 'narinfo-cache-negative-ttl', '0']);
    // The new generation carries the new agent and is the one activated.
    const sw = readdirSync(path.join(readlinkSync(h.profile + '-2-link'), 'sw'));
    assert.ok(sw.includes('nixfleet-agent-1.0.1'), sw.join(' '));
    assert.equal(bed.activations('h1').at(-1)!.storePath, r.storePath);
    const gens = await listGenerations(ctx.config);
    assert.equal(gens.at(-1)!.revision, r.lockCommit);
    assert.equal(gens.at(-1)!.lastKnownWorking, true);
  });

  test('with nothing new, the lock is unchanged, nothing is committed, the rebuild still runs', async () => {
    const h = bed.host('h1');
    const head = git(h.checkout, 'rev-parse', 'HEAD');
    const { ctx, lines } = await testOpContext(bed, 'h1', { kind: 'self-update' });
    const r = await executeOp('self-update', ctx, {});
    assert.equal(r.lockCommit, undefined);
    assert.equal(r.inputBefore, r.inputAfter);
    assert.equal(git(h.checkout, 'rev-parse', 'HEAD'), head);
    assert.ok(lines.some((l) => /flake input nixfleet is already at its newest version/.test(l.text)));
    assert.equal(r.generationBefore, 2);
    assert.equal(r.generationAfter, 2);
  });

  test('a flake without the configured input is refused before anything runs', async () => {
    const { ctx, commands } = await testOpContext(bed, 'h1', { kind: 'self-update', overrides: { agentInput: 'nixfleet-agent' } });
    await assert.rejects(executeOp('self-update', ctx, {}), /^OpError: host h1: the flake in .* has no input "nixfleet-agent" in flake\.lock; set agentInput/);
    assert.deepEqual(commands, []);
  });
});
