// nix-darwin and home-manager hosts: the same phases, the platform's own switch (direct:
// its activation scripts) or nh's subcommand for it, real Nix underneath.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { TestBed } from '../fixtures/testbed';
import { currentGenerationOf, newBed, phaseStatus, runSmart, usePath } from './rebuild-smart-fixtures';

let bed: TestBed;
before(async () => {
  bed = await newBed([
    { name: 'h2', platform: 'darwin' },
    { name: 'alice@h3', platform: 'home-manager' },
  ]);
});
after(async () => {
  await bed?.cleanup();
});

for (const [host, versionFile, nhArgs, lastScript] of [
  ['h2', 'darwin-version', (flake: string) => ['darwin', 'switch', flake, '--hostname', 'h2'], 'activate'],
  ['alice@h3', 'hm-version', (flake: string) => ['home', 'switch', flake, '--configuration', 'alice@h3'], 'activate'],
] as const) {
  test(`${host}: direct switch, then nh ${nhArgs('F')[0]} switch`, async () => {
    const h = bed.host(host);
    const first = await runSmart(bed, { autoCommit: false }, { host });
    assert.equal(first.error, undefined, first.error?.message + '\n' + first.journal.text());
    const st = phaseStatus(first.outcome);
    assert.equal(st.rebuild, 'done');
    assert.equal(st.checks, 'done');
    assert.match(first.journal.info().find((l) => l.startsWith('✓ checks'))!, /no systemd units on this platform, no sops secrets configured/);
    const gen1 = currentGenerationOf(h.profile)!;
    assert.equal(bed.activations(host).at(-1)!.script, lastScript);
    assert.equal(bed.activations(host).at(-1)!.storePath, gen1.path);

    usePath(bed, { nh: true });
    try {
      writeFileSync(path.join(h.checkout, `hosts/${host}/version`), '25.05.1\n');
      const r = await runSmart(bed, { autoCommit: false, autoPush: false }, { host });
      assert.equal(r.error, undefined, r.error?.message);
      assert.deepEqual(bed.doubleCalls().filter((c) => c.tool === 'nh').at(-1)!.args, nhArgs(h.checkout));
      const gen2 = currentGenerationOf(h.profile)!;
      assert.equal(gen2.generation, gen1.generation + 1);
      assert.equal(readFileSync(path.join(gen2.path, versionFile), 'utf8'), '25.05.1');
    } finally {
      usePath(bed, {});
    }
  });
}
