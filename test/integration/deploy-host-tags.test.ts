// Host tags read from a real flake with real `nix eval`: the nixfleetTags output, a flake
// without it (no tags, no error), and a broken one (a clear error).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { git } from '../fixtures/git';
import { readFlakeTags } from '../../src/deploy/hostTags';

describe('host tags from the flake (nixfleetTags)', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  async function flake(outputs: string): Promise<string> {
    const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-tags-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, 'flake.nix'), `{ outputs = { self }: ${outputs}; }\n`);
    await git(dir, 'init', '-q');
    await git(dir, 'add', 'flake.nix');
    return dir;
  }

  it('reads and validates the tags', async () => {
    const dir = await flake('{ nixfleetTags = { h1 = [ "web" "eu" ]; "alice@h3" = [ "laptop" ]; h2 = [ "db" "not a tag" ]; }; }');
    const t = await readFlakeTags(dir);
    assert.deepEqual(t.tags, { h1: ['web', 'eu'], 'alice@h3': ['laptop'], h2: ['db'] });
    assert.deepEqual(t.warnings, ['nixfleetTags.h2: "not a tag" is not a tag (letters, digits, ".", "_", "-"); ignored']);
  });

  it('a flake without nixfleetTags has no tags', async () => {
    assert.deepEqual(await readFlakeTags(await flake('{ }')), { tags: {}, warnings: [] });
  });

  it('an evaluation error is reported with what to try', async () => {
    await assert.rejects(readFlakeTags(await flake('{ nixfleetTags = throw "tags are broken"; }')), /could not read nixfleetTags from the flake: .*tags are broken.*nix eval \.#nixfleetTags/);
  });
});
