// Every switchMethod through its recording test double (the Nix parts underneath are real),
// darwin and home-manager hosts with the direct method, and force-rebuild's options.
import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { listGenerations } from '../../agent/nix/generations';
import { executeOp } from '../../agent/ops/registry';
import { OpError } from '../../agent/ops/types';
import { createTestBed, testOpContext, type TestBed } from '../fixtures/testbed';

describe('platforms and switch methods', () => {
  let bed: TestBed;
  before(async () => {
    bed = await createTestBed({
      hosts: [
        { name: 'n1', platform: 'nixos' },
        { name: 'd1', platform: 'darwin' },
        { name: 'bob@hm1', platform: 'home-manager' },
      ],
    });
  });
  after(() => bed.cleanup());

  test('darwin, direct: darwin-version, activate-user then activate', async () => {
    const h = bed.host('d1');
    const { ctx } = await testOpContext(bed, 'd1');
    const r = await executeOp('switch', ctx, {});
    assert.match(r.storePath!, /-darwin-system-d1-24\.05\.1$/);
    assert.equal(readlinkSync(h.profile), 'system-1-link');
    assert.deepEqual(bed.activations('d1'), [
      { script: 'activate-user', storePath: r.storePath, args: [] },
      { script: 'activate', storePath: r.storePath, args: [] },
    ]);
    const [g] = await listGenerations(ctx.config);
    assert.equal(g!.systemVersion, '24.05.1');
  });

  test('home-manager, direct: the "user@host" attribute, hm-version, activate', async () => {
    const h = bed.host('bob@hm1');
    const { ctx, commands } = await testOpContext(bed, 'bob@hm1');
    const r = await executeOp('switch', ctx, {});
    assert.match(r.storePath!, /-home-manager-generation-bob-at-hm1-24\.05\.1$/);
    assert.ok(commands.some((c) => c.at(-1)!.endsWith('#homeConfigurations."bob@hm1".activationPackage')));
    assert.equal(readlinkSync(h.profile), 'home-manager-1-link');
    assert.deepEqual(bed.activations('bob@hm1'), [{ script: 'activate', storePath: r.storePath, args: [] }]);
    const [g] = await listGenerations(ctx.config);
    assert.equal(g!.systemVersion, '24.05.1');
    assert.equal(g!.current, true);
  });

  const cases: { host: string; method: string; argv: (flake: string) => string[] }[] = [
    { host: 'n1', method: 'nixos-rebuild', argv: (f) => ['nixos-rebuild', 'switch', '--flake', `${f}#n1`] },
    { host: 'd1', method: 'darwin-rebuild', argv: (f) => ['darwin-rebuild', 'switch', '--flake', `${f}#d1`] },
    { host: 'bob@hm1', method: 'home-manager', argv: (f) => ['home-manager', 'switch', '--flake', `${f}#bob@hm1`] },
    { host: 'n1', method: 'nh', argv: (f) => ['nh', 'os', 'switch', f, '--hostname', 'n1'] },
    { host: 'd1', method: 'nh', argv: (f) => ['nh', 'darwin', 'switch', f, '--hostname', 'd1'] },
    { host: 'bob@hm1', method: 'nh', argv: (f) => ['nh', 'home', 'switch', f, '--configuration', 'bob@hm1'] },
  ];
  for (const c of cases) {
    test(`switchMethod ${c.method} on ${c.host}: the tool's argv, a new generation, activation, revision recorded`, async () => {
      const h = bed.host(c.host);
      const rev = await bed.setVersion(c.host, `25.${c.method.length}.${Date.now() % 1000}`);
      const { ctx } = await testOpContext(bed, c.host, { overrides: { switchMethod: c.method } });
      const callsBefore = bed.doubleCalls().length;
      const gensBefore = (await listGenerations(ctx.config)).length;
      const r = await executeOp('switch', ctx, { rev });
      const calls = bed.doubleCalls().slice(callsBefore);
      assert.deepEqual(calls.map((x) => [x.tool, ...x.args]), [c.argv(h.checkout)]);
      assert.equal(r.generationAfter, gensBefore + 1);
      assert.equal(r.revision, rev);
      assert.equal(readlinkSync(h.profile).replace(/^.*-(\d+)-link$/, '$1'), String(gensBefore + 1));
      assert.equal(bed.activations(c.host).at(-1)!.storePath, r.storePath);
      const gens = await listGenerations(ctx.config);
      assert.equal(gens.at(-1)!.revision, rev);
      assert.equal(gens.at(-1)!.current, true);
    });
  }

  test('a switchMethod that cannot switch the platform is refused before anything runs', async () => {
    const { ctx, commands } = await testOpContext(bed, 'd1', { overrides: { switchMethod: 'nixos-rebuild' } });
    await assert.rejects(executeOp('switch', ctx, {}), /^OpError: host d1: switchMethod nixos-rebuild cannot switch a darwin host/);
    assert.deepEqual(commands, []);
  });

  test('a failing rebuild tool: the profile goes back to the previous generation', async () => {
    const h = bed.host('n1');
    const rev = await bed.setVersion('n1', '26.1.1');
    const before = readlinkSync(h.profile);
    // Only the new system fails to activate; the previous one re-activates fine.
    bed.setHook('n1', 'case "$NIXFLEET_TESTBED_STORE_PATH" in *-26.1.1) echo "hook: refusing 26.1.1" >&2; exit 1 ;; esac\n');
    try {
      const { ctx } = await testOpContext(bed, 'n1', { overrides: { switchMethod: 'nixos-rebuild' } });
      await assert.rejects(executeOp('switch', ctx, { rev }), (err: unknown) => {
        assert.ok(err instanceof OpError);
        assert.match(err.message, /^host n1: nixos-rebuild failed \(.*\); generation \d+ was restored and re-activated; fix the configuration/);
        return true;
      });
    } finally {
      bed.setHook('n1', null);
    }
    assert.equal(readlinkSync(h.profile), before);
    assert.doesNotMatch(bed.activations('n1').at(-1)!.storePath, /26\.1\.1$/);
  });

  test('force-rebuild: --option narinfo-cache-negative-ttl 0 (and substitute false from source), in the direct build and through a tool', async () => {
    const direct = await testOpContext(bed, 'n1', { kind: 'force-rebuild' });
    const r = await executeOp('force-rebuild', direct.ctx, { fromSource: true });
    assert.equal(r.agentVersionBefore, '0.0.0-test');
    const build = direct.commands.find((c) => c[0] === 'nix' && c[1] === 'build')!;
    assert.deepEqual(build.slice(4, 10), ['--option', 'narinfo-cache-negative-ttl', '0', '--option', 'substitute', 'false']);
    // Nix accepts unknown --option silently: check these two are real settings that take effect.
    const shown = execFileSync('nix', ['show-config', '--option', 'narinfo-cache-negative-ttl', '0', '--option', 'substitute', 'false'], { encoding: 'utf8' });
    assert.match(shown, /^narinfo-cache-negative-ttl = 0$/m);
    assert.match(shown, /^substitute = false$/m);

    const viaTool = await testOpContext(bed, 'n1', { kind: 'force-rebuild', overrides: { switchMethod: 'nh' } });
    const callsBefore = bed.doubleCalls().length;
    await executeOp('force-rebuild', viaTool.ctx, {});
    const [call] = bed.doubleCalls().slice(callsBefore);
    assert.deepEqual(call!.args.slice(-4), ['--', '--option', 'narinfo-cache-negative-ttl', '0']);
  });
});
