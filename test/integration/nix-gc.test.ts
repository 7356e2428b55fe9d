// gc against real Nix: generations older than N days go from disk, the current one and the
// last known working one stay, a dry run deletes nothing, bad ages and lists that include a
// protected generation are refused before anything runs, an unauthenticated controller is
// refused, and both CLIs (the agent's on the host, the controller's `nixfleet`) ask, or want
// --yes, before anything is deleted.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { readAudit } from '../../agent/journal/audit';
import { listGenerations } from '../../agent/nix/generations';
import { executeOp } from '../../agent/ops/registry';
import { OpError } from '../../agent/ops/types';
import { opResultOf } from '../../protocol';
import { createTestBed, testOpContext, type TestBed } from '../fixtures/testbed';
import { cli, RawClient, startAgent, waitFor } from './agent-harness';
import { runCli, startCliOnTerminal, writeFleetFiles } from './cli-harness';

describe('gc', () => {
  let bed: TestBed;
  let profile: string;
  const link = (n: number) => `${profile}-${n}-link`;
  const present = () => [1, 2, 3, 4, 5].filter((n) => existsSync(link(n)));

  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    profile = bed.host('h1').profile;
    // 1-3 pass their health checks, 4 and 5 fail theirs: 3 is the last known working one.
    for (let i = 1; i <= 5; i++) {
      const rev = i === 1 ? undefined : await bed.setVersion('h1', `24.05.${i}`);
      const { ctx } = await testOpContext(bed, 'h1', { overrides: { healthChecks: [[i <= 3 ? 'true' : 'false']] } });
      const run = executeOp('switch', ctx, rev ? { rev } : {});
      if (i <= 3) await run;
      else await assert.rejects(run, /health checks failed/);
    }
    // The host runs 4 again (a rollback by hand), and 1-4 are 45 days old; 5 is new.
    execFileSync('nix-env', ['-p', profile, '--switch-generation', '4'], { env: { ...process.env, ...bed.env }, stdio: 'ignore' });
    for (let n = 1; n <= 4; n++) execFileSync('touch', ['-h', '-d', '45 days ago', link(n)]);
    const gens = await listGenerations((await testOpContext(bed, 'h1')).config);
    assert.equal(gens.find((g) => g.current)?.generation, 4);
    assert.equal(gens.find((g) => g.lastKnownWorking)?.generation, 3);
  });
  after(() => bed.cleanup());

  async function refused(params: Record<string, unknown>, pattern: RegExp): Promise<void> {
    const { ctx, commands } = await testOpContext(bed, 'h1', { kind: 'gc' });
    await assert.rejects(executeOp('gc', ctx, params), (err: unknown) => {
      assert.ok(err instanceof OpError, String(err));
      assert.match(err.message, pattern);
      assert.equal(err.message.split('\n').length, 1, 'one sentence');
      return true;
    });
    assert.deepEqual(commands, [], 'nothing may run when gc is refused');
    assert.deepEqual(present(), [1, 2, 3, 4, 5]);
  }

  test('dry run: lists the old generations that would go and why 3 and 4 stay; deletes nothing', async () => {
    const { ctx, commands, lines } = await testOpContext(bed, 'h1', { kind: 'gc' });
    const r = opResultOf('gc', await executeOp('gc', ctx, { olderThanDays: 30, dryRun: true }))!;
    assert.equal(r.dryRun, true);
    assert.deepEqual(r.generations?.map((g) => g.generation), [1, 2]);
    assert.deepEqual(r.kept, [
      { generation: 3, reason: 'last-known-working' },
      { generation: 4, reason: 'current' },
    ]);
    assert.match(r.message!, /^host h1: 2 generation\(s\) older than 30 days would be deleted: 1, 2; nothing was deleted$/);
    assert.ok(lines.some((l) => /^would delete generation 1 \(\d{4}-\d\d-\d\d \d\d:\d\d UTC, revision [0-9a-f]{12}\)$/.test(l.text)), JSON.stringify(lines));
    assert.deepEqual(commands, []);
    assert.deepEqual(present(), [1, 2, 3, 4, 5]);
    // With a limit above their age, nothing qualifies.
    const none = opResultOf('gc', await executeOp('gc', (await testOpContext(bed, 'h1', { kind: 'gc' })).ctx, { olderThanDays: 60, dryRun: true }))!;
    assert.deepEqual(none.generations, []);
  });

  test('refuses a bad age, a contradiction and a missing list, in one sentence, before anything runs', async () => {
    for (const olderThanDays of [0, -1, 1.5, '30', '30d', 36_501, null]) {
      await refused({ olderThanDays, dryRun: true }, /^host h1: invalid parameters for gc: olderThanDays: give a whole number of days from 1 to 36500; nothing was run$/);
    }
    await refused({ olderThanDays: 30 }, /^host h1: invalid parameters for gc: generations: name the generations to delete \(the list a dry run shows\), or set dryRun to list them first; nothing was run$/);
    await refused({ olderThanDays: 30, dryRun: true, generations: [1] }, /^host h1: invalid parameters for gc: generations: a dry run deletes nothing: give dryRun to list the generations, or generations to delete the confirmed list, not both; nothing was run$/);
    await refused({ olderThanDays: 30, generations: ['1; rm -rf /'] }, /^host h1: invalid parameters for gc: generations\.0: /);
  });

  test('refuses, deleting nothing, a confirmed list with the current, the last known working, a young or a missing generation', async () => {
    const why: [number, string][] = [
      [4, 'it is the current generation'],
      [3, 'it is the last known working generation'],
      [5, 'it is not older than 30 days'],
      [9, 'it does not exist \\(deleted meanwhile, or never existed\\)'],
    ];
    for (const [n, reason] of why) {
      await refused({ olderThanDays: 30, generations: [1, n] }, new RegExp(`^host h1: generation ${n} cannot be deleted: ${reason}; nothing was deleted: list the generations again with a dry run and confirm that list$`));
    }
  });

  test('an unauthenticated controller is refused', async () => {
    const ro = await startAgent(bed, 'h1', { overrides: { tokenFile: undefined } });
    try {
      const anon = await RawClient.open(ro.url);
      const r = await anon.request({ type: 'op.start', id: 1, op: 'anon-gc', kind: 'gc', params: { olderThanDays: 30, generations: [1, 2] } });
      assert.equal((r.error as { code: string }).code, 'unauthorized', JSON.stringify(r));
      assert.match((r.error as { message: string }).message, /^gc changes the host on host h1, so it needs an authenticated controller/);
      anon.close();
    } finally {
      await ro.stop();
    }
    assert.deepEqual(present(), [1, 2, 3, 4, 5]);
  });

  test('agent CLI: --dry-run lists; off a terminal it wants --yes; with --yes 1 and 2 go from disk, 3, 4 and 5 stay, audited', () => {
    const config = bed.writeConfig('h1');
    const dry = cli(bed, ['gc', '--config', config, '--older-than', '30d', '--dry-run']);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /^would delete generation 1 \(/m);
    assert.match(dry.stdout, /^would delete generation 2 \(/m);
    assert.deepEqual(present(), [1, 2, 3, 4, 5]);

    const bad = cli(bed, ['gc', '--config', config, '--older-than', '0d']);
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr.trim(), 'nixfleet-agent: gc: "0d" is not an age in days: give a whole number of days from 1 to 36500, such as 30d');
    const missing = cli(bed, ['gc', '--config', config]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /gc: --older-than DAYS is required, e\.g\. --older-than 30d/);

    const unconfirmed = cli(bed, ['gc', '--config', config, '--older-than', '30d']);
    assert.equal(unconfirmed.status, 2, unconfirmed.stderr);
    assert.match(unconfirmed.stderr, /gc deletes 2 generation\(s\) of host h1 older than 30 days:\n  generation 1 \(.*\)\n  generation 2 \(/);
    assert.match(unconfirmed.stderr, /gc: deleting generations needs a confirmation: run it on a terminal, or add --yes once the list above is what should go/);
    assert.deepEqual(present(), [1, 2, 3, 4, 5]);

    const done = cli(bed, ['gc', '--config', config, '--older-than', '30d', '--yes', '--op-id', 'gc-yes', '--json']);
    assert.equal(done.status, 0, done.stderr);
    const final = JSON.parse(done.stdout) as { state: string; result: unknown };
    assert.equal(final.state, 'succeeded');
    assert.deepEqual(opResultOf('gc', final.result)?.generations?.map((g) => g.generation), [1, 2]);
    assert.deepEqual(present(), [3, 4, 5]);
    assert.equal(readlinkSync(profile), 'system-4-link', 'the current generation is untouched');
    const audit = readAudit(bed.host('h1').stateDir).filter((r) => r.op === 'gc-yes');
    assert.ok(audit.some((r) => r.outcome === 'succeeded' && (r.params.generations as number[]).join() === '1,2'), JSON.stringify(audit));

    // Nothing left to delete: said so, nothing started.
    const again = cli(bed, ['gc', '--config', config, '--older-than', '30d', '--yes']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /host h1: no generation older than 30 days to delete; nothing was started/);
  });

  test('controller CLI: nixfleet gc HOST lists what goes and what stays; "n" deletes nothing, --yes deletes exactly that list', async () => {
    // 1 and 2 are gone (above); 5 (failed checks, neither current nor last known working) gets old too.
    execFileSync('touch', ['-h', '-d', '45 days ago', link(5)]);
    const agent = await startAgent(bed, 'h1');
    const files = writeFleetFiles([{ name: 'h1', url: agent.url }], bed.token);
    const common = ['--hosts-file', files.hostsFile, '--tokens-file', files.tokensFile];
    try {
      const bad = await runCli(['gc', 'h1', '--older-than', 'soon', ...common]);
      assert.equal(bad.status, 2);
      assert.equal(bad.stderr.trim(), 'nixfleet: gc: --older-than: "soon" is not an age in days: give a whole number of days from 1 to 36500, such as 30d');

      const no = startCliOnTerminal(['gc', 'h1', '--older-than', '30d', ...common]);
      await waitFor('the question', () => /Delete 1 generation\(s\) of h1 older than 30 days\?\s+generation 5, \d{4}-\d\d-\d\d \d\d:\d\d UTC, revision [0-9a-f]{12}\s+generation 3 stays \(last known working\)\s+generation 4 stays \(current\)\s+\[y\/N\] $/.test(no.stdout()), 30_000);
      no.answer('n');
      const nor = await no.done;
      assert.equal(nor.status, 1, nor.stdout);
      assert.deepEqual(present(), [3, 4, 5]);

      const yes = await runCli(['gc', 'h1', '--older-than', '30d', '--yes', '--json', ...common]);
      assert.equal(yes.status, 0, yes.stderr);
      const final = JSON.parse(yes.stdout) as { state: string; kind: string; params: unknown };
      assert.equal(final.state, 'succeeded');
      assert.deepEqual(final.params, { olderThanDays: 30, generations: [5] });
      assert.deepEqual(present(), [3, 4]);

      const nothing = await runCli(['gc', 'h1', '--older-than', '30d', '--yes', ...common]);
      assert.equal(nothing.status, 0, nothing.stderr);
      assert.match(nothing.stderr, /host h1 has no generation older than 30 days to delete; generation 3 stays \(last known working\), generation 4 stays \(current\)/);
    } finally {
      files.cleanup();
      await agent.stop();
    }
  });
});
