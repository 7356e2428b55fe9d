// The agent's protocol over WebSocket: handshake, auth before the upgrade, frame
// validation (the connection stays up), injection attempts, idempotent op.start, busy.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hostStatus, MAX_FRAME_BYTES } from '../../protocol';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { connect, RawClient, startAgent, upgradeStatus, waitFor, type RunningAgent } from './agent-harness';

let bed: TestBed;
let agent: RunningAgent;

before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  agent = await startAgent(bed, 'h1');
});
after(async () => {
  await agent?.stop();
  await bed?.cleanup();
});

describe('handshake and auth', () => {
  test('welcome names protocol, agent version, host, platform, Nix version and capabilities', async () => {
    const c = connect(agent, bed.token, { reconnect: false });
    const w = await c.connect();
    assert.equal(w.protocol, 1);
    assert.equal(w.host, 'h1');
    assert.equal(w.platform, 'nixos');
    assert.match(w.nixVersion, /^2\.\d+/);
    assert.ok(w.capabilities.includes('journal-resume'));
    assert.ok(w.agent.version.length > 0);
    const status = await c.status();
    assert.ok(hostStatus.safeParse(status).success);
    assert.equal(status.host, 'h1');
    c.close();
  });

  test('no token, a wrong token and another host\'s token get 401 before the upgrade', async () => {
    assert.equal((await upgradeStatus(agent.url, {})).status, 401);
    assert.equal((await upgradeStatus(agent.url, { Authorization: `Bearer ${bed.token}x` })).status, 401);
    assert.equal((await upgradeStatus(agent.url, { Authorization: `Basic ${bed.token}` })).status, 401);
    // A second host with its own token file: its token must not open h1.
    const otherToken = 'other-host-token-' + Date.now();
    const otherFile = path.join(bed.root, 'other-token');
    writeFileSync(otherFile, otherToken + '\n', { mode: 0o600 });
    assert.equal((await upgradeStatus(agent.url, { Authorization: `Bearer ${otherToken}` })).status, 401);
    assert.equal((await upgradeStatus(agent.url, { Authorization: `Bearer ${bed.token}` })).status, 101);
    const c = connect(agent, 'wrong', { reconnect: { initialDelayMs: 10 } });
    await assert.rejects(c.connect(), /refused the token \(401\)/);
    c.close();
    const opsDir = path.join(bed.host('h1').stateDir, 'ops');
    assert.deepEqual(existsSync(opsDir) ? readdirSync(opsDir) : [], [], 'no op ran');
  });

  test('a token file readable by others is refused with the chmod to run', async () => {
    const loose = path.join(bed.root, 'loose-token');
    writeFileSync(loose, 'abc\n');
    chmodSync(loose, 0o644);
    await assert.rejects(startAgent(bed, 'h1', { overrides: { tokenFile: loose } }), /readable by group or others .*chmod 600/);
  });

  test('without a token file the agent answers reads but refuses mutating ops', async () => {
    const open = await startAgent(bed, 'h1', { overrides: { tokenFile: undefined } });
    try {
      const c = await RawClient.open(open.url);
      const st = await c.request({ type: 'status', id: 1 });
      assert.equal(st.type, 'result');
      const r = await c.request({ type: 'op.start', id: 2, op: 'anon-switch', kind: 'switch', params: {} });
      assert.equal((r.error as { code: string }).code, 'unauthorized');
      c.close();
    } finally {
      await open.stop();
    }
  });
});

describe('frame validation', () => {
  test('malformed frames get structured errors and the connection stays up', async () => {
    const c = await RawClient.open(agent.url, bed.token, false);
    c.send({ type: 'status', id: 1 });
    assert.equal(((await c.next((m) => m.type === 'error')).error as { code: string }).code, 'protocol');
    c.send({ type: 'hello', protocol: 1, client: { name: 'raw', version: '1' } });
    await c.next((m) => m.type === 'welcome');
    const cases: [string, string][] = [
      ['not json at all', 'bad-frame'],
      ['[1,2,3]', 'bad-frame'],
      ['"a string"', 'bad-frame'],
      ['{"type":"nope","id":7}', 'invalid'],
      ['{"type":"status"}', 'invalid'],
      ['{"type":"status","id":8,"extra":1}', 'invalid'],
      ['{"type":"op.start","id":9,"op":"../../etc","kind":"switch","params":{}}', 'invalid'],
      ['{"type":"op.subscribe","id":10,"op":"x","fromSeq":-1}', 'invalid'],
      ['{"type":"ops.list","id":11,"limit":"all"}', 'invalid'],
      ['{"type":"hello","protocol":1,"client":{"name":"again","version":"1"}}', 'protocol'],
    ];
    for (const [frame, code] of cases) {
      const before = c.frames.length;
      c.send(frame);
      const err = await c.next((m) => m.type === 'error' && c.frames.indexOf(m) >= before);
      assert.equal((err.error as { code: string }).code, code, `frame ${frame}`);
      assert.ok(((err.error as { message: string }).message).length > 10);
    }
    const ok = await c.request({ type: 'status', id: 99 });
    assert.equal(ok.type, 'result');
    c.close();
  });

  test('an oversize frame is refused with a close naming the limit; other clients are unaffected', async () => {
    const c = await RawClient.open(agent.url, bed.token);
    const other = await RawClient.open(agent.url, bed.token);
    c.send(JSON.stringify({ type: 'status', id: 1, pad: 'x'.repeat(MAX_FRAME_BYTES) }));
    await waitFor('close', () => c.closed);
    assert.equal(c.closed!.code, 1009);
    assert.equal((await other.request({ type: 'status', id: 2 })).type, 'result');
    other.close();
  });

  test('a wrong protocol version is refused clearly', async () => {
    const c = await RawClient.open(agent.url, bed.token, false);
    c.send({ type: 'hello', protocol: 99, client: { name: 'future', version: '9' } });
    const err = await c.next((m) => m.type === 'error');
    assert.match((err.error as { message: string }).message, /protocol version 99 is not supported/);
  });
});

describe('op requests', () => {
  test('shell metacharacters, "..", newlines and NUL in every string parameter are rejected and nothing runs', async () => {
    const marker = path.join(bed.root, 'pwned');
    const evil = [`$(touch ${marker})`, `\`touch ${marker}\``, `main; touch ${marker}`, `../../etc`, `a\nb`, `a\0b`, `-rf`, `main && touch ${marker}`, `x|touch ${marker}`];
    const c = await RawClient.open(agent.url, bed.token);
    let id = 100;
    const starts: Record<string, unknown>[] = [];
    for (const e of evil) {
      starts.push({ kind: 'switch', params: { rev: e } });
      starts.push({ kind: 'force-rebuild', params: { rev: e } });
      starts.push({ kind: 'build', params: { rev: e } });
      starts.push({ kind: 'pull', params: { ref: e } });
      starts.push({ kind: 'pull', params: { rev: e } });
      starts.push({ kind: 'self-update', params: { input: e } });
      starts.push({ kind: 'rollback', params: { to: e } });
      starts.push({ kind: 'switch', params: {}, op: e });
      starts.push({ kind: 'switch', params: { [e]: true } });
    }
    for (const s of starts) {
      const r = await c.request({ type: 'op.start', id: ++id, op: (s.op as string) ?? `evil-${id}`, kind: s.kind, params: s.params });
      assert.equal(r.type, 'error', `accepted ${JSON.stringify(s)}`);
      assert.equal((r.error as { code: string }).code, 'invalid');
    }
    c.close();
    assert.equal(existsSync(marker), false);
    assert.equal(existsSync(path.join(bed.host('h1').stateDir, 'ops')) ? readdirSync(path.join(bed.host('h1').stateDir, 'ops')).length : 0, 0);
  });

  test('op.start is idempotent by op id; a reused id with other params is a conflict', async () => {
    const c = connect(agent, bed.token);
    await c.connect();
    const first = await c.startOp('idem-1', 'switch', {});
    assert.equal(first.existing, false);
    const again = await c.startOp('idem-1', 'switch', {});
    assert.equal(again.existing, true);
    assert.equal(again.op.startedAt, first.op.startedAt);
    await assert.rejects(c.startOp('idem-1', 'rollback', {}), (e: Error & { code?: string }) => e.code === 'conflict');
    const { op, lines } = await c.follow('idem-1');
    assert.equal(op.state, 'succeeded', op.error);
    assert.deepEqual(lines.map((l) => l.seq), Array.from({ length: op.lastSeq }, (_, i) => i + 1));
    const third = await c.startOp('idem-1', 'switch', {});
    assert.equal(third.existing, true);
    assert.equal(third.op.state, 'succeeded');
    assert.equal(bed.activations('h1').length, 1, 'the switch activated exactly once');
    c.close();
  });

  test('a second mutating op while one runs gets "busy: <kind> <op> running since <time>"; reads are answered', async () => {
    bed.setHook('h1', 'sleep 2\n');
    const a = connect(agent, bed.token);
    const b = connect(agent, bed.token);
    await Promise.all([a.connect(), b.connect()]);
    try {
      await a.startOp('busy-a', 'switch', {});
      await assert.rejects(b.startOp('busy-b', 'rollback', {}), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'busy');
        assert.match(e.message, /^busy: switch busy-a running since \d{4}-\d\d-\d\dT/);
        return true;
      });
      const st = await b.status();
      assert.equal(st.busy?.op, 'busy-a');
      assert.ok((await b.generations()).length >= 1);
      const { op } = await a.follow('busy-a');
      assert.equal(op.state, 'succeeded', op.error);
      const ok = await b.startOp('busy-b2', 'test', {});
      assert.equal((await b.follow(ok.op.id)).op.state, 'succeeded');
    } finally {
      bed.setHook('h1', null);
      a.close();
      b.close();
    }
  });

  test('an op that fails ends failed with a clear error, recorded in ops.list and host.status is pushed', async () => {
    bed.setFail('h1', true);
    const c = connect(agent, bed.token);
    await c.connect();
    try {
      const statuses: unknown[] = [];
      c.onHostStatus.on((s) => statuses.push(s));
      await c.startOp('fail-1', 'switch', {});
      const { op } = await c.follow('fail-1');
      assert.equal(op.state, 'failed');
      assert.match(op.error ?? '', /h1/);
      await waitFor('host.status push', () => statuses.length > 0);
      const ops = await c.listOps(10);
      assert.equal(ops[0]!.id, 'fail-1');
      assert.equal(ops[0]!.state, 'failed');
    } finally {
      bed.setFail('h1', false);
      c.close();
    }
  });

  test('cancel stops a running op: SIGTERM to its process group, state cancelled', async () => {
    bed.setHook('h1', 'echo waiting; sleep 60\n');
    const c = connect(agent, bed.token);
    await c.connect();
    try {
      await c.startOp('cancel-1', 'switch', {});
      const seen: string[] = [];
      const follow = c.follow('cancel-1', (ls) => seen.push(...ls.map((l) => l.text)));
      await waitFor('activation output', () => seen.includes('waiting'), 30_000);
      const t0 = Date.now();
      await c.cancelOp('cancel-1');
      const { op } = await follow;
      assert.equal(op.state, 'cancelled');
      assert.ok(Date.now() - t0 < 15_000);
      const st = await c.status();
      assert.equal(st.busy, undefined, 'the lock was released');
    } finally {
      bed.setHook('h1', null);
      c.close();
    }
  });
});
