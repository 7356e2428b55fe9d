// `npm test` and `npm start` install the locked dependencies themselves when node_modules is
// missing or older than package-lock.json (scripts/ensure-deps.mjs).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
// @ts-expect-error: a plain .mjs script without type declarations
import { staleDependencies } from '../../scripts/ensure-deps.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-deps-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const lock = path.join(dir, 'package-lock.json');
const installed = path.join(dir, 'node_modules/.package-lock.json');
writeFileSync(lock, '{}\n');

test('a fresh clone (no node_modules) needs npm ci', () => {
  assert.equal(staleDependencies(dir), 'node_modules is missing');
});

test('node_modules installed after the lock was written is current', () => {
  mkdirSync(path.dirname(installed), { recursive: true });
  writeFileSync(installed, '{}\n');
  utimesSync(lock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  assert.equal(staleDependencies(dir), null);
});

test('a lock newer than node_modules (a pull that changed it) needs npm ci', () => {
  utimesSync(lock, new Date(), new Date(Date.now() + 5_000));
  assert.equal(staleDependencies(dir), 'package-lock.json is newer than node_modules');
});
