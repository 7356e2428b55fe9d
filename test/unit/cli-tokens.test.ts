// The CLI's token sources (src/cli/hosts/tokens.ts): the tokens file's checks and format,
// the NIXFLEET_TOKEN_<HOST> names, and which source wins.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { readTokensFile, tokenEnvName, TokenStore } from '../../src/cli/hosts/tokens';

const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-cli-tokens-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string, mode = 0o600): string {
  const f = path.join(dir, name);
  writeFileSync(f, text, { mode });
  chmodSync(f, mode);
  return f;
}

test('tokens file: "HOST TOKEN" lines, comments and blank lines; each host once', () => {
  const f = file('ok', '# fleet tokens\n\nweb1  s3cr3t/+=\nalice@h3\tabc\n');
  assert.deepEqual([...readTokensFile(f)], [['web1', 's3cr3t/+='], ['alice@h3', 'abc']]);
  assert.throws(() => readTokensFile(file('dup', 'web1 a\nweb1 b\n')), /line 2: host web1 has a token on an earlier line too/);
  assert.throws(() => readTokensFile(file('three', 'web1 a b\n')), /line 1 is not "HOST TOKEN"/);
  assert.throws(() => readTokensFile(file('badhost', 'web;1 a\n')), /line 1: "web;1" is not a host name/);
  assert.throws(() => readTokensFile(file('nonascii', 'web1 tökén\n')), /line 1: the token of web1 holds characters a bearer token cannot carry/);
});

test('tokens file: group/world access, a symlink, another owner and a missing file are refused', () => {
  assert.throws(() => readTokensFile(file('g', 'web1 a\n', 0o640)), /readable or writable by group or others \(mode 640\); run: chmod 600/);
  assert.throws(() => readTokensFile(file('w', 'web1 a\n', 0o602)), /mode 602/);
  const target = file('target', 'web1 a\n');
  const link = path.join(dir, 'link');
  symlinkSync(target, link);
  assert.throws(() => readTokensFile(link), /is not a regular file \(symlinks are refused\)/);
  assert.throws(() => readTokensFile(target, (process.getuid?.() ?? 0) + 1), /is owned by uid \d+, not by you/);
  assert.throws(() => readTokensFile(path.join(dir, 'missing')), /cannot be read \(ENOENT\); create it/);
});

test('NIXFLEET_TOKEN_<HOST>: upper case, other characters "_"; it wins over the file; a name two hosts share is refused', () => {
  assert.equal(tokenEnvName('web1'), 'NIXFLEET_TOKEN_WEB1');
  assert.equal(tokenEnvName('alice@h3'), 'NIXFLEET_TOKEN_ALICE_H3');
  assert.equal(tokenEnvName('db-2'), 'NIXFLEET_TOKEN_DB_2');
  const store = new TokenStore(new Map([['web1', 'from-file'], ['web2', 'file2']]), { NIXFLEET_TOKEN_WEB1: 'from-env' }, ['web1', 'web2'], '/x/tokens');
  assert.equal(store.get('web1'), 'from-env');
  assert.equal(store.get('web2'), 'file2');
  assert.equal(store.get('web3'), undefined);
  assert.match(store.advice('web3'), /add a line "web3 TOKEN" to \/x\/tokens or set NIXFLEET_TOKEN_WEB3/);
  const twins = new TokenStore(new Map(), { NIXFLEET_TOKEN_A_B: 't' }, ['a-b', 'a_b'], undefined);
  assert.throws(() => twins.get('a-b'), /NIXFLEET_TOKEN_A_B would be the token of both a-b and a_b/);
  const spaced = new TokenStore(new Map(), { NIXFLEET_TOKEN_WEB1: 'two words' }, ['web1'], undefined);
  assert.throws(() => spaced.get('web1'), /NIXFLEET_TOKEN_WEB1 holds characters a bearer token cannot carry/);
});
