// The pure parts of plans and rollouts: dry-activate and diff-closures parsing, Nix's
// internal-json progress, grouping a 50-host plan, waves from specs, flake tags, durations.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareVersions, packageChanges, parseDryActivate } from '../../agent/nix/plan';
import { NixLogDecoder } from '../../agent/nix/internalJson';
import { groupPlan, type FleetPlan, type PlannedHost } from '../../src/deploy/fleetPlan';
import { entryTags, mergeTags, parseDuration, parseWaveSpec, resolveWaves } from '../../src/deploy/rolloutWaves';
import { parseHostsSetting } from '../../src/fleet/hostConfig';
import { parseFlakeTags } from '../../src/deploy/hostTags';
import { planRollout } from '../../src/deploy/rollout';
import { DeployPlanError } from '../../src/deploy/plan';
import type { BuildProgress, HostPlan } from '../../protocol';

describe('dry-activate and closure diff parsing', () => {
  it('reads the units of NixOS switch-to-configuration dry-activate (Perl and -ng print the same lines)', () => {
    // What NixOS 24.05 prints for a change of nginx and a new timer.
    const out = [
      'would stop the following units: old-app.service',
      'would NOT stop the following changed units: systemd-journald.service',
      'would activate the configuration...',
      'would restart systemd',
      'would reload the following units: dbus.service, cache.service',
      'would restart the following units: nginx.service, acme-example.org.service',
      'would start the following units: backup.timer',
    ];
    const p = parseDryActivate(out);
    assert.deepEqual(p.units, {
      stop: ['old-app.service'],
      restart: ['acme-example.org.service', 'nginx.service'],
      reload: ['cache.service', 'dbus.service'],
      start: ['backup.timer'],
    });
    assert.deepEqual(p.notes, ['would NOT stop the following changed units: systemd-journald.service', 'would activate the configuration...', 'would restart systemd']);
    assert.deepEqual(parseDryActivate(['building the system configuration...']).units, { stop: [], restart: [], reload: [], start: [] });
  });

  it('package changes from nix store diff-closures lines', () => {
    assert.deepEqual(
      packageChanges(['openssl: 3.0.2 → 3.0.3, +12.3 KiB', 'hello: ∅ → 2.12.1, +48.0 KiB', 'zlib: 1.3 → ∅, -90.1 KiB', 'glibc: 2.39-52 → 2.38-44', 'firefox: 120.0, 120.0.1 → 121.0', 'nixos-system-h1: ε → ε, +1.0 KiB', 'bash: +8.5 KiB']),
      [
        { name: 'openssl', from: ['3.0.2'], to: ['3.0.3'], change: 'upgraded' },
        { name: 'hello', from: [], to: ['2.12.1'], change: 'added' },
        { name: 'zlib', from: ['1.3'], to: [], change: 'removed' },
        { name: 'glibc', from: ['2.39-52'], to: ['2.38-44'], change: 'downgraded' },
        { name: 'firefox', from: ['120.0', '120.0.1'], to: ['121.0'], change: 'upgraded' },
        { name: 'nixos-system-h1', from: [''], to: [''], change: 'changed' },
      ],
    );
    assert.ok(compareVersions('1.10', '1.9') > 0);
    assert.ok(compareVersions('2.0', '2.0.1') < 0);
  });
});

describe('Nix internal-json progress', () => {
  const nixLine = (o: object) => '@nix ' + JSON.stringify(o);

  it('counts builds and downloads, turns log results back into text, passes other lines through', () => {
    let t = 0;
    const d = new NixLogDecoder({ now: () => t });
    const out: { stream: string; text: string; progress?: BuildProgress }[] = [];
    const emit = (stream: string, text: string, progress?: BuildProgress) => void out.push({ stream, text, ...(progress ? { progress } : {}) });
    d.decode(nixLine({ action: 'start', id: 1, level: 0, text: '', type: 104 }), emit);
    d.decode(nixLine({ action: 'result', id: 1, type: 105, fields: [0, 2, 0, 0] }), emit);
    d.decode(nixLine({ action: 'start', id: 2, level: 3, text: "building '/nix/store/aaa-x.drv'", type: 105 }), emit);
    d.decode(nixLine({ action: 'result', id: 1, type: 105, fields: [0, 2, 1, 0] }), emit);
    d.decode(nixLine({ action: 'result', id: 2, type: 101, fields: ['\u001b[1mcompiling\u001b[0m'] }), emit);
    d.decode(nixLine({ action: 'start', id: 3, level: 4, text: "downloading 'https://cache/x.nar'", type: 101 }), emit);
    // Bytes alone change on every chunk: at most one line a second for them.
    d.decode(nixLine({ action: 'result', id: 3, type: 105, fields: [1024, 4096, 0, 0] }), emit);
    t += 100;
    d.decode(nixLine({ action: 'result', id: 3, type: 105, fields: [2048, 4096, 0, 0] }), emit);
    t += 1000;
    d.decode(nixLine({ action: 'result', id: 3, type: 105, fields: [4096, 4096, 0, 0] }), emit);
    d.decode(nixLine({ action: 'stop', id: 2 }), emit);
    d.decode(nixLine({ action: 'result', id: 1, type: 105, fields: [2, 2, 0, 0] }), emit);
    d.decode(nixLine({ action: 'msg', level: 0, msg: '\u001b[31;1merror:\u001b[0m oops' }), emit);
    // Newer Nix sends an error with its trace as one msg: one line each, the error itself last.
    d.decode(nixLine({ action: 'msg', level: 0, msg: 'error:\n       … while evaluating\n\n       error: bad key\n' }), emit);
    d.decode(nixLine({ action: 'msg', level: 5, msg: 'chatty' }), emit);
    d.decode('warning: not JSON at all', emit);
    d.decode('@nix {broken', emit);
    assert.deepEqual(out.map((l) => `${l.stream} ${l.text}`), [
      "stderr building '/nix/store/aaa-x.drv'",
      'info build progress: 0/2 derivations built',
      'stderr compiling',
      'info build progress: 0/2 derivations built, 4.0 KiB of 4.0 KiB downloaded',
      'info build progress: 2/2 derivations built, 4.0 KiB of 4.0 KiB downloaded',
      'stderr error: oops',
      'stderr error:',
      'stderr        … while evaluating',
      'stderr ',
      'stderr        error: bad key',
      'stderr warning: not JSON at all',
      'stderr @nix {broken',
    ]);
    assert.deepEqual(out.at(-8)!.progress, { built: 2, toBuild: 2, running: 0, failed: 0, copied: 0, toCopy: 0, fetchedBytes: 4096, toFetchBytes: 4096 });
  });
});

describe('grouping the fleet plan', () => {
  const units = (restart: string[] = []) => ({ known: true as const, units: { stop: [], restart, reload: [], start: [] }, notes: [] });
  const plan = (o: Partial<HostPlan>): HostPlan => ({ noChange: false, storePath: '/nix/store/new', currentStorePath: '/nix/store/old', packages: [], closureBytes: 1000, currentClosureBytes: 900, closureBytesChange: 100, activation: units(), ...o });
  const openssl = { name: 'openssl', from: ['3.0.2'], to: ['3.0.3'], change: 'upgraded' as const };

  it('50 hosts read as four groups: same change set together, biggest first, no change and failures last', () => {
    const hosts: PlannedHost[] = [];
    for (let i = 0; i < 30; i++) hosts.push({ host: `web${i}`, state: 'planned', opId: `o${i}`, plan: plan({ packages: [openssl], activation: units(['nginx.service']), closureBytesChange: 100 + i }) });
    for (let i = 0; i < 12; i++) hosts.push({ host: `db${i}`, state: 'planned', opId: `d${i}`, plan: plan({ packages: [openssl] }) });
    for (let i = 0; i < 6; i++) hosts.push({ host: `idle${i}`, state: 'planned', opId: `i${i}`, plan: plan({ noChange: true, storePath: '/nix/store/old', closureBytesChange: 0 }) });
    hosts.push({ host: 'mac1', state: 'planned', opId: 'm', plan: plan({ packages: [openssl], activation: { known: false, reason: 'not known on nix-darwin' } }) });
    hosts.push({ host: 'broken', state: 'failed', opId: 'b', error: 'host broken: building failed' });
    const groups = groupPlan({ id: 'x', commit: 'abcdef1', madeAt: '', hosts } satisfies FleetPlan);
    assert.deepEqual(groups.map((g) => [g.kind, g.hosts.length]), [['change', 30], ['change', 12], ['change', 1], ['no-change', 6], ['failed', 1]]);
    assert.equal(groups[0]!.summary, '30 hosts: openssl 3.0.2 → 3.0.3; restart nginx.service; +100 B to +129 B');
    assert.equal(groups[1]!.summary, '12 hosts: openssl 3.0.2 → 3.0.3; no unit changes; +100 B');
    assert.equal(groups[2]!.summary, '1 host: openssl 3.0.2 → 3.0.3; units: not known; +100 B');
    assert.equal(groups[4]!.summary, '1 host: plan failed: host broken: building failed');
  });
});

describe('waves', () => {
  const hosts = ['c1', 'w1', 'w2', 'w3', 'd1', 'd2', 'x1', 'x2', 'x3', 'x4'];
  const tags = { w1: ['web'], w2: ['web'], w3: ['web', 'eu'], d1: ['db'], d2: ['db', 'eu'] };

  it('canaries, tags, names and percentages of the rest; leftovers form the last wave', () => {
    assert.deepEqual(resolveWaves({ hosts, canaries: ['c1', 'nothere'], specs: ['tag:web', 'd1,tag:eu', '50%'], tags }), [
      { name: 'canaries', hosts: ['c1'] },
      { name: 'tag:web', hosts: ['w1', 'w2', 'w3'] },
      { name: 'd1,tag:eu', hosts: ['d1', 'd2'] },
      { name: '50%', hosts: ['x1', 'x2'] },
      { name: 'the rest', hosts: ['x3', 'x4'] },
    ]);
    // 34% of 3 hosts left rounds up to 2.
    assert.deepEqual(resolveWaves({ hosts: ['a', 'b', 'c'], specs: ['34%'] }).map((w) => w.hosts), [['a', 'b'], ['c']]);
    assert.deepEqual(resolveWaves({ hosts: ['a', 'b'], specs: [] }), [{ name: 'all hosts', hosts: ['a', 'b'] }]);
  });

  it('refuses what would silently skip or cannot be read', () => {
    assert.throws(() => resolveWaves({ hosts, specs: ['tag:nope'], tags }), /no chosen host has tag nope/);
    assert.throws(() => resolveWaves({ hosts, specs: ['zz9'] }), /names host zz9, which is not among the hosts chosen/);
    assert.throws(() => parseWaveSpec('a,,b'), /empty part/);
    assert.throws(() => parseWaveSpec('0%'), /not a percentage/);
    assert.throws(() => parseWaveSpec('tag:-x'), /is not a tag/);
    assert.throws(() => parseWaveSpec('rm -rf'), /is not a host name, tag:NAME or N%/);
    assert.throws(() => planRollout({ target: { commit: 'abcdef1' }, hosts: ['a'], waves: [], onFailure: 'maybe' as never, who: 't' }), DeployPlanError);
    assert.throws(() => planRollout({ target: { commit: 'abcdef1' }, hosts: ['a'], waves: [], soakMs: -1, who: 't' }), /soak time/);
  });

  it('a planned rollout orders its hosts by wave', () => {
    const r = planRollout({ target: { commit: 'abcdef1' }, hosts: ['x1', 'w1', 'c1'], canaries: ['c1'], waves: ['tag:web'], tags, who: 't', maxInFlight: 3, onFailure: 'keep' });
    assert.deepEqual(r.hosts.map((h) => [h.host, h.wave]), [['c1', 0], ['w1', 1], ['x1', 2]]);
    assert.deepEqual(r.rollout, { waves: [{ name: 'canaries', hosts: ['c1'], state: 'pending' }, { name: 'tag:web', hosts: ['w1'], state: 'pending' }, { name: 'the rest', hosts: ['x1'], state: 'pending' }], soakMs: 0, maxInFlight: 3, failuresTolerated: 0, onFailure: 'keep' });
  });

  it('tags from the flake are validated; settings and flake tags merge', () => {
    const t = parseFlakeTags({ h1: ['web', 'web', 'eu'], 'bad host!': ['x'], h2: 'web', h3: ['ok', 'no spaces', 7] });
    assert.deepEqual(t.tags, { h1: ['web', 'eu'], h3: ['ok'] });
    assert.equal(t.warnings.length, 4);
    assert.deepEqual(parseFlakeTags([]).tags, {});
    assert.deepEqual(mergeTags({ h1: ['web'] }, { h1: ['eu', 'web'], h2: ['db'] }), { h1: ['web', 'eu'], h2: ['db'] });
  });

  it('tags in nixfleet.hosts are validated like the flake\'s', () => {
    const ok = parseHostsSetting([{ name: 'h1', address: 'ws://127.0.0.1:1', platform: 'nixos', tags: ['web', 'eu'] }, { name: 'h2', address: 'ws://127.0.0.1:2', platform: 'nixos' }]);
    assert.deepEqual(ok.errors, []);
    assert.deepEqual(entryTags(ok.hosts), { h1: ['web', 'eu'] });
    const bad = parseHostsSetting([{ name: 'h1', address: 'ws://127.0.0.1:1', platform: 'nixos', tags: ['web server'] }]);
    assert.deepEqual(bad.errors, ['nixfleet.hosts entry "h1": tags.0: a tag is letters, digits, ".", "_" and "-"']);
  });

  it('durations', () => {
    assert.equal(parseDuration('90'), 90_000);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.throws(() => parseDuration('5 minutes'), /not a duration/);
  });
});
