// The profile lock: concurrent profile mutations through the Nix layer lose no generation
// (bare nix-env does, TESTBED.md), a stale lock is taken over, a live one times out clearly.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readProfile } from '../../agent/nix/profile';
import { profileLockPath, withProfileLock } from '../../agent/nix/profileLock';
import { setProfile } from '../../agent/nix/system';
import { createTestBed, testOpContext, type TestBed } from '../fixtures/testbed';

describe('profile lock', () => {
  let bed: TestBed;
  let paths: string[];
  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const dirs: string[] = [];
    for (let i = 0; i < 24; i++) {
      const d = path.join(bed.root, 'src', `nixos-system-lock-${i}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(path.join(d, 'nixos-version'), `${i}`);
      writeFileSync(path.join(d, 'salt'), bed.root);
      dirs.push(d);
    }
    paths = execFileSync('nix-store', ['--add', ...dirs], { encoding: 'utf8' }).trim().split('\n');
  });
  after(() => bed.cleanup());

  test('4 concurrent writers x 6 sets: all 24 generations kept', async () => {
    const { ctx } = await testOpContext(bed, 'h1');
    await Promise.all(
      [0, 1, 2, 3].map(async (w) => {
        for (let i = 0; i < 6; i++) await setProfile(ctx, paths[w * 6 + i]!).catch(() => undefined);
      }),
    );
    const { links } = readProfile(bed.host('h1').profile);
    assert.equal(links.length, 24);
    assert.deepEqual(new Set(links.map((l) => l.target)), new Set(paths));
    assert.equal(existsSync(profileLockPath(bed.host('h1').profile)), false);
  });

  test('a lock left by a dead process is taken over', async () => {
    const h = bed.host('h1');
    const dead = Number(execFileSync('sh', ['-c', 'sh -c "echo \\$\\$"'], { encoding: 'utf8' }).trim());
    writeFileSync(profileLockPath(h.profile), `${dead}\n`);
    const { ctx } = await testOpContext(bed, 'h1');
    const link = await setProfile(ctx, paths[0]!);
    assert.equal(link.target, paths[0]);
    assert.equal(existsSync(profileLockPath(h.profile)), false);
  });

  test('a lock held by a live process times out with a clear error', async () => {
    const h = bed.host('h1');
    writeFileSync(profileLockPath(h.profile), '1\n'); // pid 1 is always alive
    try {
      await assert.rejects(
        withProfileLock(h.profile, 'h1', async () => 'ran', 300),
        /^OpError: host h1: the profile .* is locked by another process \(.*\.nixfleet-lock\) for more than 0 s; wait for it to finish/,
      );
    } finally {
      execFileSync('rm', ['-f', profileLockPath(h.profile)]);
    }
  });
});
