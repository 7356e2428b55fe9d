// Refused attempts in the audit log, with real agents on loopback: 401 upgrades, op.start
// refused as unauthorized / invalid / conflict / busy, op.cancel refused; a flood from one
// source is cut to the per-source limit plus one summary; and token rotation without a
// restart (old token 401, new token works, a revoked token's connection is closed, an
// unusable token file refuses everyone with 503 instead of keeping the old tokens).
import assert from 'node:assert/strict';
import { chmodSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readAudit, readRefusals, type RefusalRecord, type RefusalSummaryRecord } from '../../agent/journal/audit';
import { tokenIdentity } from '../../agent/server/auth';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { bearer, cli, RawClient, startAgent, upgradeStatus, waitFor } from './agent-harness';

let bed: TestBed;

before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }, { name: 'h2', platform: 'nixos' }, { name: 'h3', platform: 'nixos' }] });
});
after(async () => {
  await bed?.cleanup();
});

const refusals = (host: string) => readRefusals(bed.host(host).stateDir).filter((r): r is RefusalRecord => r.event === 'refused');
const code = (r: Record<string, unknown>) => (r.error as { code: string } | undefined)?.code;

describe('refused attempts are audited', () => {
  test('401 upgrades: who, what, when, why; a wrong token is named by its hash prefix only', async () => {
    const agent = await startAgent(bed, 'h1');
    try {
      const t0 = Date.now();
      assert.equal((await upgradeStatus(agent.url)).status, 401);
      const wrong = 'not-the-token-' + Date.now();
      assert.equal((await upgradeStatus(agent.url, bearer(wrong))).status, 401);
      assert.equal((await upgradeStatus(agent.url, bearer(bed.token))).status, 101);
      const recs = refusals('h1');
      assert.equal(recs.length, 2, JSON.stringify(recs));
      const [missing, bad] = recs as [RefusalRecord, RefusalRecord];
      assert.equal(missing.request, 'upgrade');
      assert.equal(missing.code, '401');
      assert.equal(missing.reason, 'missing bearer token');
      assert.equal(missing.source, '127.0.0.1');
      assert.match(missing.client.address ?? '', /^127\.0\.0\.1:\d+$/);
      assert.ok(Date.parse(missing.time) >= t0 - 1000 && Date.parse(missing.time) <= Date.now());
      assert.equal(bad.reason, 'invalid bearer token');
      assert.equal(bad.presented, tokenIdentity(wrong));
      const text = JSON.stringify(recs);
      assert.ok(!text.includes(wrong) && !text.includes(bed.token), 'a token reached the audit log');
      assert.deepEqual(readAudit(bed.host('h1').stateDir), [], 'refusals are not op records');
    } finally {
      await agent.stop();
    }
  });

  test('op.start refused as unauthorized, invalid, conflict and busy; op.cancel refused as unauthorized', async () => {
    const h = bed.host('h1');
    // A generation to test (the slow `test` op below holds the lock while its check runs).
    const setup = cli(bed, ['switch', '--config', bed.writeConfig('h1'), '--op-id', 'setup-switch']);
    assert.equal(setup.status, 0, setup.stderr);
    const before = refusals('h1').length;
    // A read-only listener (no token file) for unauthorized, the normal one for the rest.
    const ro = await startAgent(bed, 'h1', { overrides: { tokenFile: undefined } });
    const agent = await startAgent(bed, 'h1', { overrides: { healthChecks: [['/bin/sh', '-c', 'sleep 60']] } });
    try {
      const anon = await RawClient.open(ro.url);
      assert.equal(code(await anon.request({ type: 'op.start', id: 1, op: 'ro-switch', kind: 'switch', params: {} })), 'unauthorized');
      assert.equal(code(await anon.request({ type: 'op.cancel', id: 2, op: 'ro-switch' })), 'unauthorized');
      anon.close();

      const c = await RawClient.open(agent.url, bed.token);
      assert.equal(code(await c.request({ type: 'op.start', id: 3, op: 'bad-params', kind: 'rollback', params: { to: 'x; rm -rf /' } })), 'invalid');
      assert.equal(code(await c.request({ type: 'op.start', id: 4, op: '../escape', kind: 'switch', params: {} })), 'invalid');
      const started = await c.request({ type: 'op.start', id: 5, op: 'slow-test', kind: 'test', params: {} });
      assert.equal(started.type, 'result', JSON.stringify(started));
      assert.equal(code(await c.request({ type: 'op.start', id: 6, op: 'slow-test', kind: 'switch', params: {} })), 'conflict');
      const busy = await c.request({ type: 'op.start', id: 7, op: 'second-op', kind: 'switch', params: {} });
      assert.equal(code(busy), 'busy');
      // Reads are not refusals; a status is answered and leaves no record.
      assert.equal((await c.request({ type: 'status', id: 8 })).type, 'result');
      // The CLI's refused start is recorded as well, as the local user.
      const r = cli(bed, ['switch', '--config', agent.config, '--op-id', 'cli-while-busy']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /busy: test slow-test running since/);
      // A cancel by the authenticated controller is no refusal.
      assert.equal((await c.request({ type: 'op.cancel', id: 9, op: 'slow-test' })).type, 'result');
      c.close();

      const recs = refusals('h1').slice(before);
      assert.deepEqual(
        recs.map((r) => [r.request, r.code, r.op, r.kind]),
        [
          ['op.start', 'unauthorized', 'ro-switch', 'switch'],
          ['op.cancel', 'unauthorized', 'ro-switch', undefined],
          ['op.start', 'invalid', 'bad-params', 'rollback'],
          ['op.start', 'invalid', '../escape', 'switch'],
          ['op.start', 'conflict', 'slow-test', 'switch'],
          ['op.start', 'busy', 'second-op', 'switch'],
          ['op.start', 'busy', 'cli-while-busy', 'switch'],
        ],
      );
      assert.match(recs[6]!.client.auth, /^cli:/);
      assert.equal(recs[6]!.source, recs[6]!.client.auth);
      assert.equal(recs[0]!.client.auth, 'none');
      assert.equal(recs[2]!.client.auth, tokenIdentity(bed.token));
      assert.equal(recs[2]!.client.name, 'raw-test');
      assert.equal(recs[2]!.params, JSON.stringify({ to: 'x; rm -rf /' }));
      assert.match(recs[5]!.reason, /^busy: test slow-test running since /);
      // The op that did run gets its op record when it ends; no other op ran.
      await waitFor('slow-test to end', () => readAudit(h.stateDir).find((r) => r.op === 'slow-test'), 30_000);
      assert.deepEqual(readAudit(h.stateDir).map((r) => [r.op, r.outcome]), [['setup-switch', 'succeeded'], ['slow-test', 'cancelled']]);
    } finally {
      await ro.stop();
      await agent.stop();
    }
  });

  test('a flood of bad tokens from one source: 10 records, the rest in one summary', async () => {
    const agent = await startAgent(bed, 'h2');
    const attempts = 60;
    try {
      for (let i = 0; i < attempts; i++) assert.equal((await upgradeStatus(agent.url, bearer(`flood-${i}`))).status, 401);
      assert.equal((await upgradeStatus(agent.url, bearer(bed.token))).status, 101, 'the genuine token still works during the flood');
      assert.equal(refusals('h2').length, 10);
    } finally {
      await agent.stop(); // SIGTERM closes the window: its summary is written
    }
    const all = readRefusals(bed.host('h2').stateDir);
    const summaries = all.filter((r): r is RefusalSummaryRecord => r.event === 'refused-summary');
    assert.equal(all.length, 11);
    assert.equal(summaries.length, 1);
    assert.equal(summaries[0]!.suppressed, attempts - 10);
    assert.deepEqual(summaries[0]!.bySource, { '127.0.0.1': attempts - 10 });
    assert.deepEqual(summaries[0]!.byCode, { '401': attempts - 10 });
  });
});

describe('token rotation without a restart', () => {
  test('old token 401, new token works, the revoked connection is closed; an unusable file refuses everyone', async () => {
    const h3 = bed.host('h3');
    const file = path.join(bed.root, 'rotating-token');
    const oldToken = 'old-' + 'a'.repeat(30);
    const newToken = 'new-' + 'b'.repeat(30);
    writeFileSync(file, `${oldToken}\n`, { mode: 0o600 });
    const agent = await startAgent(bed, 'h3', { overrides: { tokenFile: file } });
    try {
      const held = await RawClient.open(agent.url, oldToken);
      assert.equal((await held.request({ type: 'status', id: 1 })).type, 'result');

      // Rotate: write the new file beside it and rename it over (what an operator or a
      // secrets manager does). No restart.
      writeFileSync(file + '.tmp', `${newToken}\n`, { mode: 0o600 });
      renameSync(file + '.tmp', file);
      assert.equal((await upgradeStatus(agent.url, bearer(oldToken))).status, 401);
      assert.equal((await upgradeStatus(agent.url, bearer(newToken))).status, 101);
      await waitFor('the revoked connection to close', () => held.closed, 10_000);
      assert.equal(held.closed!.code, 1008);
      assert.equal(held.closed!.reason, 'token revoked');
      assert.match(agent.stderr(), /token file .*rotating-token re-read: 1 token\(s\)/);
      assert.match(agent.stderr(), /closed 1 connection\(s\) whose token is no longer in/);

      // Both tokens during a handover (two lines), in place (same inode, truncate + write).
      writeFileSync(file, `${newToken}\n${oldToken}\n`);
      assert.equal((await upgradeStatus(agent.url, bearer(oldToken))).status, 101);
      const keeps = await RawClient.open(agent.url, newToken);

      // Loosened permissions: nobody gets in, the connection made with the token is closed.
      chmodSync(file, 0o644);
      const loose = await upgradeStatus(agent.url, bearer(newToken));
      assert.equal(loose.status, 503);
      assert.match(loose.body, /host h3 cannot check tokens: its token file is unusable/);
      assert.ok(!loose.body.includes(file), 'the refusal does not tell an unauthenticated peer the file path');
      await waitFor('the connection to close', () => keeps.closed, 10_000);
      assert.equal(keeps.closed!.reason, 'token file unusable');
      assert.match(agent.stderr(), /readable by group or others \(mode 644\); run: chmod 600 .*refusing every connection \(HTTP 503\)/);

      chmodSync(file, 0o600);
      assert.equal((await upgradeStatus(agent.url, bearer(newToken))).status, 101);
      assert.match(agent.stderr(), /accepting connections again/);

      // Gone (or not readable): same refusal, no fallback to the tokens read before.
      unlinkSync(file);
      assert.equal((await upgradeStatus(agent.url, bearer(newToken))).status, 503);
      assert.match(agent.stderr(), /cannot be read \(ENOENT\)/);
      writeFileSync(file, `${newToken}\n`, { mode: 0o600 });
      assert.equal((await upgradeStatus(agent.url, bearer(newToken))).status, 101);
      assert.equal((await upgradeStatus(agent.url, bearer(oldToken))).status, 401);

      const recs = readRefusals(h3.stateDir).filter((r): r is RefusalRecord => r.event === 'refused');
      assert.deepEqual(
        recs.map((r) => [r.code, r.reason, r.presented]),
        [
          ['401', 'invalid bearer token', tokenIdentity(oldToken)],
          ['503', 'token file unusable', tokenIdentity(newToken)],
          ['503', 'token file unusable', tokenIdentity(newToken)],
          ['401', 'invalid bearer token', tokenIdentity(oldToken)],
        ],
      );
      assert.equal(agent.proc.exitCode, null, 'the agent kept running throughout');
    } finally {
      await agent.stop();
      rmSync(file, { force: true });
    }
  });
});
