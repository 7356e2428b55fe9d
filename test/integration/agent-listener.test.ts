// What each WebSocket listener serves, with real agents on loopback: a listener without a
// token file answers reads only (no op of any kind starts there: a build evaluates the
// flake and writes the store), browser Origins are refused on every listener unless the
// config allows them, every op start is audited (not only refusals), and a build takes
// the host lock like every other op (so builds cannot pile up).
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { opKind } from '../../protocol';
import { readAudit, readRefusals, readStarts, type RefusalRecord } from '../../agent/journal/audit';
import { ConfigError, parseConfig } from '../../agent/config';
import { tokenIdentity } from '../../agent/server/auth';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { bearer, RawClient, startAgent, upgradeStatus, waitFor } from './agent-harness';

let bed: TestBed;
before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }, { name: 'h2', platform: 'nixos' }] });
});
after(async () => {
  await bed?.cleanup();
});

const code = (r: Record<string, unknown>) => (r.error as { code: string } | undefined)?.code;
const opIds = (stateDir: string) => (existsSync(path.join(stateDir, 'ops')) ? readdirSync(path.join(stateDir, 'ops')) : []);

describe('listeners', () => {
  test('a listener without a token file serves reads only: no op kind starts there, build included; each refusal is audited', async () => {
    const h = bed.host('h1');
    const ro = await startAgent(bed, 'h1', { overrides: { tokenFile: undefined } });
    try {
      const c = await RawClient.open(ro.url);
      for (const [i, kind] of opKind.options.entries()) {
        const params = kind === 'rollback' ? { to: 1 } : {};
        const r = await c.request({ type: 'op.start', id: i, op: `anon-${kind}`, kind, params });
        assert.equal(code(r), 'unauthorized', `${kind}: ${JSON.stringify(r)}`);
        assert.match((r.error as { message: string }).message, /needs an authenticated controller/);
      }
      // The reads are served.
      for (const req of [{ type: 'status' }, { type: 'generations' }, { type: 'ops.list', limit: 10 }]) {
        assert.equal((await c.request({ ...req, id: req.type })).type, 'result', req.type);
      }
      c.close();
      assert.deepEqual(opIds(h.stateDir), [], 'an op directory appeared: something started');
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(opIds(h.stateDir), [], 'an op directory appeared late: something started');
      // Nor does a refused op.start keep a standby worker loaded (standbyWorker "auto", the
      // default; agent-standby.test.ts shows an authenticated one does).
      const standbys = path.join(h.stateDir, 'standby');
      assert.deepEqual(existsSync(standbys) ? readdirSync(standbys).filter((n) => /^[0-9a-f]{12}$/.test(n)) : [], [], 'a standby worker started');
      const refused = readRefusals(h.stateDir).filter((r): r is RefusalRecord => r.event === 'refused' && r.code === 'unauthorized');
      assert.deepEqual(refused.map((r) => r.kind).sort(), [...opKind.options].sort());
    } finally {
      await ro.stop();
    }
  });

  test('browser Origins are refused (403, audited) on listeners with and without a token, unless allowedOrigins lists them', async () => {
    const h = bed.host('h2');
    const allowed = 'https://fleet.example.com';
    const withToken = await startAgent(bed, 'h2', { overrides: { allowedOrigins: [allowed] } });
    const tokenless = await startAgent(bed, 'h2', { overrides: { tokenFile: undefined } });
    try {
      const page = { Origin: 'http://127.0.0.1:8000' };
      assert.equal((await upgradeStatus(tokenless.url, page)).status, 403, 'a web page reached the tokenless listener');
      assert.equal((await upgradeStatus(tokenless.url, { Origin: 'null' })).status, 403, 'an opaque origin reached the tokenless listener');
      assert.equal((await upgradeStatus(tokenless.url, { Origin: allowed })).status, 403, 'an origin allowed on another listener only');
      assert.equal((await upgradeStatus(withToken.url, { ...page, ...bearer(bed.token) })).status, 403, 'a web page holding the token got through');
      assert.equal((await upgradeStatus(withToken.url, { Origin: allowed + '/', ...bearer(bed.token) })).status, 403, 'origins compare exactly');
      assert.equal((await upgradeStatus(withToken.url, { Origin: allowed, ...bearer(bed.token) })).status, 101, 'the allowed origin was refused');
      assert.equal((await upgradeStatus(withToken.url, { Origin: allowed })).status, 401, 'an allowed origin still needs the token');
      // Controllers that are not browsers send no Origin.
      assert.equal((await upgradeStatus(tokenless.url)).status, 101);
      assert.equal((await upgradeStatus(withToken.url, bearer(bed.token))).status, 101);
      const recs = readRefusals(h.stateDir).filter((r): r is RefusalRecord => r.event === 'refused' && r.code === '403');
      assert.equal(recs.length, 5, JSON.stringify(recs));
      assert.ok(recs.every((r) => r.request === 'upgrade' && /^browser origin .* is not in allowedOrigins$/.test(r.reason)), JSON.stringify(recs));
      assert.ok(!JSON.stringify(recs).includes(bed.token), 'the token reached the audit log');
    } finally {
      await withToken.stop();
      await tokenless.stop();
    }
  });

  test('allowedOrigins is validated: exact origins only, and its flag takes a JSON list', () => {
    const base = { host: 'h1', flake: '/srv/nixcfg', platform: 'nixos', stateDir: '/var/lib/nixfleet-agent' };
    assert.deepEqual(parseConfig({ ...base, allowedOrigins: ['https://fleet.example.com', 'http://127.0.0.1:8080'] }).allowedOrigins, ['https://fleet.example.com', 'http://127.0.0.1:8080']);
    for (const bad of ['https://fleet.example.com/', 'https://fleet.example.com/path', '*', 'null', 'HTTPS://FLEET.example.com', 'fleet.example.com', 'https://a.example:99999', 'https://user@a.example']) {
      assert.throws(() => parseConfig({ ...base, allowedOrigins: [bad] }), (err: Error) => err instanceof ConfigError && /allowedOrigins\.0: .*exact origin/.test(err.message), bad);
    }
  });

  test('every op start is audited, success included, and a build takes the host lock like every op', async () => {
    const h = bed.host('h1');
    // A `test` op whose health check sleeps holds the lock while the build is tried.
    const agent = await startAgent(bed, 'h1', { overrides: { healthChecks: [['/bin/sh', '-c', 'sleep 60']] } });
    try {
      const c = await RawClient.open(agent.url, bed.token);
      assert.equal((await c.request({ type: 'op.start', id: 1, op: 'listen-switch', kind: 'switch', params: {} })).type, 'result');
      await waitFor('the switch to end', () => readAudit(h.stateDir).find((r) => r.op === 'listen-switch'), 120_000);
      assert.equal((await c.request({ type: 'op.start', id: 2, op: 'listen-hold', kind: 'test', params: {} })).type, 'result');
      const busy = await c.request({ type: 'op.start', id: 3, op: 'listen-build-busy', kind: 'build', params: {} });
      assert.equal(code(busy), 'busy', `a build started beside a running op: ${JSON.stringify(busy)}`);
      assert.equal((await c.request({ type: 'op.cancel', id: 4, op: 'listen-hold' })).type, 'result');
      await waitFor('the test op to end', () => readAudit(h.stateDir).find((r) => r.op === 'listen-hold'), 60_000);
      assert.equal((await c.request({ type: 'op.start', id: 5, op: 'listen-build', kind: 'build', params: {} })).type, 'result');
      const end = await waitFor('the build to end', () => readAudit(h.stateDir).find((r) => r.op === 'listen-build'), 120_000);
      assert.equal(end.outcome, 'succeeded', end.error);
      c.close();
      assert.deepEqual(
        readStarts(h.stateDir).map((r) => [r.op, r.kind, r.client.auth]),
        [
          ['listen-switch', 'switch', agentAuth()],
          ['listen-hold', 'test', agentAuth()],
          ['listen-build', 'build', agentAuth()],
        ],
      );
    } finally {
      await agent.stop();
    }
  });
});

const agentAuth = () => tokenIdentity(bed.token);
