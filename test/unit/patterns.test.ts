import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostName, isSafeGitRef, parseGeneration } from '../../protocol';

test('host names: flake attributes only', () => {
  for (const ok of ['h1', 'web-01', 'alice@laptop', 'my_host']) assert.ok(hostName.safeParse(ok).success, ok);
  for (const bad of ['', '-h', 'a b', 'a;b', '../x', 'a\nb', 'a\0b', '$(id)', 'a.b', 'x'.repeat(64)]) {
    assert.ok(!hostName.safeParse(bad).success, JSON.stringify(bad));
  }
});

test('git refs: branch names pass, option-like and traversal refs do not', () => {
  for (const ok of ['main', 'feature/x', 'v1.2.3', 'release-24.05']) assert.ok(isSafeGitRef(ok), ok);
  for (const bad of ['-f', '--upload-pack=x', 'a..b', 'a b', 'a;b', '/main', 'main/', 'x.lock', 'a@{1}', '.hidden', 'a\nb']) {
    assert.ok(!isSafeGitRef(bad), JSON.stringify(bad));
  }
});

test('generation numbers from text', () => {
  assert.equal(parseGeneration('42'), 42);
  for (const bad of ['0', '-1', '4.2', '42; rm', '', '0x10', '99999999999']) assert.throws(() => parseGeneration(bad), /generation/);
});
