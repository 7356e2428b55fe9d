// The fleet's plan against real agents, real Nix and real git: one host with no change, two
// that upgrade a package (grouped), one whose units change (the test bed's
// switch-to-configuration prints NixOS's dry-activate lines), one nix-darwin host (units not
// known); nothing is activated, no profile moves; build progress read from Nix's
// internal-json log matches the derivations the build printed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { AGENT_JS } from './agent-harness';
import { startRolloutFleet, type RolloutFleet } from './rollout-fixtures';
import { buildFleetPlan, groupPlan, type FleetPlan } from '../../src/deploy/fleetPlan';
import type { BuildProgress } from '../../protocol';

const execFileP = promisify(execFile);

describe('plan a deploy on a fleet of real agents', { skip: !existsSync(AGENT_JS) && 'dist/agent.js missing: run npm run build' }, () => {
  let f: RolloutFleet;
  let target: string;
  let plan: FleetPlan;
  const progress = new Map<string, BuildProgress[]>();
  const gens: Record<string, number> = {};

  before(async () => {
    f = await startRolloutFleet(
      [
        { name: 'same', platform: 'nixos' },
        { name: 'pkg1', platform: 'nixos' },
        { name: 'pkg2', platform: 'nixos' },
        { name: 'units', platform: 'nixos' },
        { name: 'mac', platform: 'darwin' },
      ],
      async (bed) => {
        await bed.setUnits('units', { 'nginx.service': 'v1', 'old.service': 'x', 'cache.service': 'reload-if-changed a', 'steady.service': 's' });
      },
    );
    for (const h of ['same', 'pkg1', 'pkg2', 'units', 'mac']) gens[h] = f.generation(h);
    await f.bed.setPackages('pkg1', { openssl: '3.0.3', hello: '2.12.1' });
    await f.bed.setPackages('pkg2', { openssl: '3.0.3', hello: '2.12.1' });
    await f.bed.setUnits('units', { 'nginx.service': 'v2', 'new.service': 'y', 'cache.service': 'reload-if-changed b', 'steady.service': 's' });
    target = await f.bed.setVersion('mac', '24.05.9');
    plan = await buildFleetPlan({
      agents: f.agents,
      id: 'plantest1',
      commit: target,
      hosts: ['same', 'pkg1', 'pkg2', 'units', 'mac'],
      onProgress: (host, p) => progress.set(host, [...(progress.get(host) ?? []), p]),
    });
  });

  after(async () => {
    await f?.dispose();
  });

  const of = (host: string) => plan.hosts.find((h) => h.host === host)!;

  it('every host planned; nothing activated, no profile moved', () => {
    for (const h of plan.hosts) assert.equal(h.state, 'planned', `${h.host}: ${h.error}`);
    for (const [h, g] of Object.entries(gens)) {
      assert.equal(f.generation(h), g, `${h}'s profile did not move`);
      assert.deepEqual(f.bed.activations(h), [], `${h} ran no activation (dry-activate is not one)`);
    }
  });

  it('an unchanged host is "no change"', () => {
    const p = of('same').plan!;
    assert.equal(p.noChange, true);
    assert.deepEqual(p.packages, []);
    assert.equal(p.storePath, p.currentStorePath);
    assert.equal(p.closureBytesChange, 0);
  });

  it('a package upgrade, with the closure size change nix path-info reports', async () => {
    const p = of('pkg1').plan!;
    assert.equal(p.noChange, false);
    assert.deepEqual(p.packages, [{ name: 'openssl', from: ['3.0.2'], to: ['3.0.3'], change: 'upgraded' }]);
    const { stdout } = await execFileP('nix', ['path-info', '--json', '-S', p.storePath, p.currentStorePath!]);
    const sizes = Object.fromEntries((JSON.parse(stdout) as { path: string; closureSize: number }[]).map((e) => [e.path, e.closureSize]));
    assert.equal(p.closureBytes, sizes[p.storePath]);
    assert.equal(p.closureBytesChange, sizes[p.storePath]! - sizes[p.currentStorePath!]!);
    assert.deepEqual(p.activation, { known: true, units: { stop: [], restart: [], reload: [], start: [] }, notes: ['would activate the configuration...'] });
  });

  it('units to stop, restart, reload and start, from switch-to-configuration dry-activate', () => {
    const a = of('units').plan!.activation;
    assert.ok(a.known);
    assert.deepEqual(a.units, { stop: ['old.service'], restart: ['nginx.service'], reload: ['cache.service'], start: ['new.service'] });
  });

  it('nix-darwin: the version change, units "not known"', () => {
    const p = of('mac').plan!;
    assert.equal(p.noChange, false);
    assert.equal(p.activation.known, false);
    assert.match((p.activation as { reason: string }).reason, /nix-darwin has no dry run/);
  });

  it('groups hosts with the same change set', () => {
    const groups = groupPlan(plan);
    assert.deepEqual(groups.map((g) => [g.kind, g.hosts]), [
      ['change', ['pkg1', 'pkg2']],
      ['change', ['mac']],
      ['change', ['units']],
      ['no-change', ['same']],
    ]);
    assert.match(groups[0]!.summary, /^2 hosts: openssl 3\.0\.2 → 3\.0\.3; no unit changes; [+-]/);
    assert.match(groups[2]!.summary, /stop old\.service; restart nginx\.service; reload cache\.service; start new\.service/);
    assert.equal(groups[3]!.summary, '1 host: no change (skipped)');
  });

  it('build progress from the internal-json log matches the derivations the build printed; the raw log still streams', () => {
    const lines = f.output.get('pkg1')!.filter((l) => l.seq > 0);
    const built = lines.filter((l) => /^building '\/nix\/store\/[^']+\.drv'/.test(l.text)).length;
    assert.ok(built >= 1, 'the build printed its derivations');
    const last = progress.get('pkg1')!.at(-1)!;
    assert.equal(last.toBuild, built);
    assert.equal(last.built, built);
    assert.equal(last.failed, 0);
    // Counts only grow: Nix's progress is monotonic and finished activities keep their counts.
    const seen = progress.get('pkg1')!;
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.built >= seen[i - 1]!.built);
    // The builder's own output, decoded from the JSON log, is in the journal as before.
    assert.ok(lines.some((l) => l.stream === 'stderr' && /^test bed: building \/nix\/store\//.test(l.text)), 'the build log lines stream');
    assert.ok(!lines.some((l) => l.text.startsWith('@nix ')), 'no raw internal-json line reaches the journal');
    assert.ok(lines.some((l) => l.progress && /^build progress: \d+\/\d+ derivations? built/.test(l.text)));
    // No build on the unchanged host: nothing to count.
    assert.equal(progress.get('same'), undefined);
  });
});
