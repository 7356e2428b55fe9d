// A controller reads what a newer agent sends: unknown fields are dropped, known ones checked.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentMessage, parseAdditive, requestMessage } from '../../protocol';

const status = {
  host: 'h1',
  platform: 'nixos',
  agentVersion: '0.9.0',
  nixVersion: 'nix (Nix) 2.8.0',
  switchMethod: 'direct',
  currentGeneration: 3,
  checkout: { path: '/etc/nixcfg', dirty: false },
  startedAt: '2026-12-04T12:00:00.000Z',
};

test('a host.status with fields this release does not know (top level and nested) is read, those fields dropped', () => {
  const strict = agentMessage.safeParse({ type: 'host.status', status });
  if (!strict.success) {
    // The fixture must be a valid status of this release; say what it lacks if not.
    assert.fail(`fixture: ${JSON.stringify(strict.error.issues)}`);
  }
  const newer = { type: 'host.status', status: { ...status, fromTheFuture: { a: 1 }, checkout: { ...status.checkout, pushedAt: 'x' } }, alsoNew: true };
  assert.equal(agentMessage.safeParse(newer).success, false, 'strict parsing refuses it, as older controllers did');
  const r = parseAdditive(agentMessage, newer);
  assert.ok(r.success, JSON.stringify(!r.success && r.error.issues));
  assert.deepEqual(r.data, { type: 'host.status', status });
  assert.ok('fromTheFuture' in newer.status, 'the caller\'s object is not changed');
});

test('a known field of the wrong type still fails, also beside unknown fields', () => {
  const r = parseAdditive(agentMessage, { type: 'host.status', status: { ...status, currentGeneration: 'three', extra: 1 } });
  assert.equal(r.success, false);
});

test('requests to the agent stay strict: parseAdditive is for what agents send, and the agent parses requests strictly', () => {
  assert.equal(requestMessage.safeParse({ type: 'status', id: 1, sneaky: true }).success, false);
});
