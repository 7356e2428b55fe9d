// The serving agent's standby worker (agent/runner/standby.ts): an op runs in the process
// started before it was asked for, with the same journal lines and records as a cold
// worker; a standby that is gone, stopped or killed at the worst instants never makes an
// op run twice or lie about how it ended; a standby never outlives its agent, a new agent
// retires the old one's; the Nix version it asked ahead is asked again when `nix` changed;
// op.start is answered before the handoff ends; "auto" keeps one only while an authenticated
// controller runs ops on the host; standbyWorker false starts every worker cold.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { OutputLine } from '../../protocol';
import { readAllLines } from '../../agent/journal/reader';
import { readAudit, readAuditLog } from '../../agent/journal/audit';
import { processStartTime } from '../../agent/runner/process';
import { claim, handOff, retire, revoke, standbyDir, writeOwner } from '../../agent/runner/standbyHandoff';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { connect, runOpOnce, startAgent, waitFor, type RunningAgent } from './agent-harness';

let bed: TestBed;
before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
});
after(async () => {
  await bed?.cleanup();
});

const stateDir = () => bed.host('h1').stateDir;
const opFile = (opId: string, name: string) => path.join(stateDir(), 'ops', opId, name);
const workerOf = (opId: string) => JSON.parse(readFileSync(opFile(opId, 'worker.json'), 'utf8')) as { pid: number; startTime?: string };
const alive = (pid: number) => processStartTime(pid) !== undefined;

/** The standby directories under the state dir (retired ones excluded). */
const standbyIds = () => (existsSync(path.join(stateDir(), 'standby')) ? readdirSync(path.join(stateDir(), 'standby')).filter((n) => /^[0-9a-f]{12}$/.test(n)) : []);

/** The agent's standby once it is ready: its id and process. */
function readyStandby(): { id: string; pid: number; startTime?: string } | undefined {
  for (const id of standbyIds()) {
    try {
      const r = JSON.parse(readFileSync(path.join(stateDir(), 'standby', id, 'standby.json'), 'utf8')) as { pid: number; startTime?: string };
      return { id, ...r };
    } catch {
      /* not ready yet */
    }
  }
  return undefined;
}

/** The op's journal lines the worker writes at its start ("switch X on h1 started by …"). */
const startLines = (lines: OutputLine[]) => lines.filter((l) => / started by /.test(l.text));

const switchOnce = (agent: RunningAgent, opId: string) => runOpOnce(agent, bed.token, opId);

/** The journal as a client sees it, with what differs between two runs (ids, times, pids, generations) left out. */
function shape(lines: OutputLine[], opId: string): string[] {
  return lines.map((l) =>
    `${l.stream} ${l.text}`
      .replaceAll(opId, 'OP')
      .replace(/\/nix\/store\/[0-9a-z]{32}-\S+/g, 'STORE')
      .replace(/\b\d+\b/g, 'N'),
  );
}

describe('the standby worker handoff (files in the state directory)', () => {
  test('one rename decides: a claim after a revoke or a retirement fails, a revoke after a claim fails (also once the standby removed its directory)', () => {
    const dir = mkdtempSync(path.join(bed.root, 'handoff-'));
    const root = path.join(dir, 'standby');
    mkdirSync(root, { mode: 0o700 });
    const fresh = (id: string) => {
      mkdirSync(standbyDir(dir, id), { mode: 0o700 });
      writeOwner(standbyDir(dir, id), { pid: process.pid, version: 'x' });
      return standbyDir(dir, id);
    };
    const a = fresh('aaaaaaaaaaaa');
    assert.equal(handOff(a, 'op-1'), true);
    assert.equal(revoke(a), true, 'nothing claimed it: revoked');
    assert.equal(claim(a), undefined, 'a late standby cannot claim a revoked op');
    const b = fresh('bbbbbbbbbbbb');
    assert.equal(handOff(b, 'op-2'), true);
    assert.equal(claim(b), 'op-2');
    assert.equal(revoke(b), false, 'claimed first: the agent must not start another worker');
    // The claiming standby removes its directory once it recorded itself: the revoke that
    // lost the race must still not read as "nobody claimed it".
    const d = fresh('dddddddddddd');
    assert.equal(handOff(d, 'op-5'), true);
    assert.equal(claim(d), 'op-5');
    rmSync(d, { recursive: true, force: true });
    assert.equal(revoke(d), false, 'claimed, then its directory removed: still no second worker');
    const c = fresh('cccccccccccc');
    assert.equal(handOff(c, 'op-3'), true);
    retire(dir, 'cccccccccccc'); // no standby.json: no process to stop
    assert.equal(claim(c), undefined, 'a retired standby cannot claim');
    assert.equal(existsSync(c), false);
    assert.equal(handOff(c, 'op-4'), false, 'nothing can be handed to a retired standby');
  });
});

describe('the serving agent runs ops in its standby worker', () => {
  test('the op runs in the process started before it was asked for, with the journal and records a cold worker writes', async () => {
    const cold = await startAgent(bed, 'h1', { overrides: { standbyWorker: false } });
    let coldRun;
    try {
      // The first switch of the bed's host has no generation before it: compare two that do.
      assert.equal((await switchOnce(cold, 'sb-cold-0')).op.state, 'succeeded');
      coldRun = await switchOnce(cold, 'sb-cold-1');
      assert.deepEqual(standbyIds(), [], 'standbyWorker false: no standby');
    } finally {
      await cold.stop();
    }
    assert.equal(coldRun.op.state, 'succeeded', coldRun.op.error);
    const coldWorker = workerOf('sb-cold-1');
    const agent = await startAgent(bed, 'h1', { overrides: { standbyWorker: true } });
    try {
      const standby = await waitFor('a ready standby worker', readyStandby, 30_000);
      // Ready comes after its rehearsal (runner/warmUp.ts), which left no scratch file behind.
      assert.deepEqual(readdirSync(path.join(stateDir(), 'standby', standby.id)).filter((n) => n === 'rehearsal'), []);
      const run = await switchOnce(agent, 'sb-warm-1');
      assert.equal(run.op.state, 'succeeded', run.op.error);
      const worker = workerOf('sb-warm-1');
      assert.equal(worker.pid, standby.pid, 'the standby ran the op');
      assert.equal(worker.startTime, standby.startTime, 'the very process that was waiting');
      assert.notEqual(worker.pid, coldWorker.pid);
      assert.deepEqual(shape(run.lines, 'sb-warm-1'), shape(coldRun.lines, 'sb-cold-1'), 'the same journal lines as a cold worker');
      assert.deepEqual(Object.keys(run.op).sort(), Object.keys(coldRun.op).sort(), 'the same op record');
      assert.deepEqual(Object.keys(run.op.result ?? {}).sort(), Object.keys(coldRun.op.result ?? {}).sort());
      const audit = readAuditLog(stateDir()).filter((r) => (r as { op?: string }).op === 'sb-warm-1');
      assert.equal(audit.length, 2, 'one start and one end record');
      // Used up: its directory is gone and the next standby is another process.
      const next = await waitFor('the next standby worker', () => {
        const s = readyStandby();
        return s && s.id !== standby.id ? s : undefined;
      }, 30_000);
      assert.notEqual(next.pid, standby.pid);
      assert.equal(existsSync(path.join(stateDir(), 'standby', standby.id)), false);
    } finally {
      await agent.stop();
    }
    await waitFor('the agent retiring its standby when it stops', () => standbyIds().length === 0, 20_000);
  });

  test('a standby that is gone: the op starts cold', async () => {
    const agent = await startAgent(bed, 'h1', { overrides: { standbyWorker: true } });
    try {
      const standby = await waitFor('a ready standby worker', readyStandby, 30_000);
      process.kill(standby.pid, 'SIGKILL');
      await waitFor('the standby gone', () => !alive(standby.pid));
      const run = await switchOnce(agent, 'sb-gone-1');
      assert.equal(run.op.state, 'succeeded', run.op.error);
      assert.notEqual(workerOf('sb-gone-1').pid, standby.pid);
      assert.equal(startLines(run.lines).length, 1);
    } finally {
      await agent.stop();
    }
  });

  test('a standby stopped during the handoff: the op starts cold after the claim bound, the standby resumed later runs nothing', async () => {
    const agent = await startAgent(bed, 'h1', { overrides: { standbyWorker: true } });
    let standby: { id: string; pid: number } | undefined;
    try {
      standby = await waitFor('a ready standby worker', readyStandby, 30_000);
      process.kill(standby.pid, 'SIGSTOP');
      const c = connect(agent, bed.token);
      await c.connect();
      await c.startOp('sb-stop-1', 'switch', {});
      // op.start is answered once the op is recorded, not after the claim (up to 1 s): the
      // handoff is still waiting for the stopped standby.
      assert.equal(existsSync(path.join(stateDir(), 'standby', standby.id, 'op')), true, 'answered while the handoff waits');
      assert.doesNotMatch(agent.stderr(), /did not take op sb-stop-1/);
      const run = await c.follow('sb-stop-1');
      c.close();
      assert.equal(run.op.state, 'succeeded', run.op.error);
      const worker = workerOf('sb-stop-1');
      assert.notEqual(worker.pid, standby.pid, 'a cold worker ran it');
      assert.match(agent.stderr(), /did not take op sb-stop-1 within 1000 ms; starting the op's worker cold/);
      process.kill(standby.pid, 'SIGCONT');
      const pid = standby.pid;
      await waitFor('the late standby exiting', () => !alive(pid), 20_000);
      const lines = await readAllLines(opFile('sb-stop-1', 'journal.jsonl'));
      assert.equal(startLines(lines).length, 1, 'the op started once');
      assert.deepEqual(lines, run.lines, 'nothing was written after its end');
      assert.deepEqual(workerOf('sb-stop-1'), worker, 'the late standby did not claim the op');
      assert.equal(readAudit(stateDir()).filter((r) => r.op === 'sb-stop-1').length, 1);
    } finally {
      if (standby && alive(standby.pid)) process.kill(standby.pid, 'SIGCONT');
      await agent.stop();
    }
  });

  test('op.cancel before the standby claimed the op: the op ends cancelled and nothing ran, the host is free', async () => {
    const agent = await startAgent(bed, 'h1', { overrides: { standbyWorker: true } });
    let standby: { pid: number } | undefined;
    try {
      standby = await waitFor('a ready standby worker', readyStandby, 30_000);
      process.kill(standby.pid, 'SIGSTOP');
      const c = connect(agent, bed.token);
      await c.connect();
      await c.startOp('sb-early-1', 'switch', {});
      await c.cancelOp('sb-early-1');
      process.kill(standby.pid, 'SIGCONT'); // it claims now, or after the claim bound a cold worker runs it
      const { op, lines } = await c.follow('sb-early-1');
      c.close();
      assert.equal(op.state, 'cancelled', op.error);
      assert.ok(lines.some((l) => l.text === 'cancel requested before switch sb-early-1 started: nothing ran'), lines.map((l) => l.text).join('\n'));
      assert.deepEqual(startLines(lines), [], 'the op never started');
      assert.ok(!lines.some((l) => l.text.startsWith('$ ')), 'no command ran');
      const audit = readAudit(stateDir()).filter((r) => r.op === 'sb-early-1');
      assert.deepEqual(audit.map((r) => r.outcome), ['cancelled']);
      const again = await switchOnce(agent, 'sb-early-2');
      assert.equal(again.op.state, 'succeeded', again.op.error);
    } finally {
      if (standby && alive(standby.pid)) process.kill(standby.pid, 'SIGCONT');
      await agent.stop();
    }
  });

  test('a standby killed right after it claimed the op: the op is recorded interrupted, the host is free', async () => {
    bed.setHook('h1', 'sleep 30\n');
    const agent = await startAgent(bed, 'h1', { overrides: { standbyWorker: true } });
    try {
      const standby = await waitFor('a ready standby worker', readyStandby, 30_000);
      const c = connect(agent, bed.token);
      await c.connect();
      const started = c.startOp('sb-kill-1', 'switch', {});
      // The claim is the rename of standby/<id>/op; the standby then records itself at once.
      const claimedAt = path.join(stateDir(), 'standby', standby.id, 'claimed');
      const workerJson = opFile('sb-kill-1', 'worker.json');
      for (let i = 0; i < 200_000 && !existsSync(claimedAt) && !existsSync(workerJson); i++) await new Promise((r) => setImmediate(r));
      process.kill(-standby.pid, 'SIGKILL');
      await started;
      const { op, lines } = await c.follow('sb-kill-1');
      c.close();
      assert.equal(op.state, 'interrupted');
      assert.match(op.error ?? '', new RegExp(`interrupted on host h1: its worker process \\(pid ${standby.pid}\\) ended without recording a result`));
      assert.ok(startLines(lines).length <= 1);
      assert.equal(lines.at(-1)!.text, op.error);
      const audit = readAudit(stateDir()).filter((r) => r.op === 'sb-kill-1');
      assert.equal(audit.length, 1);
      assert.equal(audit[0]!.outcome, 'interrupted');
      bed.setHook('h1', null);
      const again = await switchOnce(agent, 'sb-kill-2');
      assert.equal(again.op.state, 'succeeded', again.op.error);
    } finally {
      bed.setHook('h1', null);
      await agent.stop();
    }
  });

  test('a standby whose agent is gone exits by itself; a new agent retires standbys it did not start', async () => {
    let agent = await startAgent(bed, 'h1', { overrides: { standbyWorker: true } });
    const orphan = await waitFor('a ready standby worker', readyStandby, 30_000);
    await agent.kill9();
    await waitFor('the orphaned standby exiting', () => !alive(orphan.pid), 20_000);

    agent = await startAgent(bed, 'h1', { overrides: { standbyWorker: true } });
    assert.equal(existsSync(path.join(stateDir(), 'standby', orphan.id)), false, 'the next agent removed what it left');
    const old = await waitFor('a ready standby worker', readyStandby, 30_000);
    // Stopped, it cannot go by itself: only the new agent can retire it.
    process.kill(old.pid, 'SIGSTOP');
    try {
      await agent.kill9();
      agent = await startAgent(bed, 'h1', { overrides: { standbyWorker: true } });
      assert.equal(existsSync(path.join(stateDir(), 'standby', old.id)), false, 'the new agent retired it at start');
      const mine = await waitFor('the new agent\'s standby', () => {
        const s = readyStandby();
        return s && s.id !== old.id ? s : undefined;
      }, 30_000);
      assert.notEqual(mine.pid, old.pid);
      process.kill(old.pid, 'SIGCONT');
      await waitFor('the retired standby exiting', () => !alive(old.pid), 20_000);
      const run = await switchOnce(agent, 'sb-restart-1');
      assert.equal(run.op.state, 'succeeded', run.op.error);
      assert.equal(workerOf('sb-restart-1').pid, mine.pid, 'the new agent\'s standby ran it');
    } finally {
      if (alive(old.pid)) process.kill(old.pid, 'SIGCONT');
      await agent.stop();
    }
  });

  test('an agent killed after op.start was answered, before its standby took the op: the next agent starts the op cold and it succeeds, once', async () => {
    let agent = await startAgent(bed, 'h1', { overrides: { standbyWorker: true } });
    const port = agent.port;
    let standby: { id: string; pid: number } | undefined;
    try {
      standby = await waitFor('a ready standby worker', readyStandby, 30_000);
      // Stopped, it cannot claim (as one still loading cannot): the op waits in its directory.
      process.kill(standby.pid, 'SIGSTOP');
      const c = connect(agent, bed.token, { reconnect: { initialDelayMs: 30, maxDelayMs: 200 } });
      await c.connect();
      await c.startOp('sb-orphan-1', 'switch', {});
      assert.equal(existsSync(path.join(stateDir(), 'standby', standby.id, 'op')), true, 'handed, not claimed');
      await agent.kill9();
      agent = await startAgent(bed, 'h1', { port, overrides: { standbyWorker: true } });
      const run = await c.follow('sb-orphan-1');
      c.close();
      assert.equal(run.op.state, 'succeeded', run.op.error);
      assert.notEqual(workerOf('sb-orphan-1').pid, standby.pid, 'a cold worker ran it');
      assert.match(agent.stderr(), /op sb-orphan-1 was handed to a standby worker of an earlier agent, which never took it; starting the op's worker cold/);
      assert.equal(existsSync(path.join(stateDir(), 'standby', standby.id)), false, 'the old standby was retired');
      const pid = standby.pid;
      process.kill(pid, 'SIGCONT');
      await waitFor('the retired standby exiting', () => !alive(pid), 20_000);
      const lines = await readAllLines(opFile('sb-orphan-1', 'journal.jsonl'));
      assert.equal(startLines(lines).length, 1, 'the op started once');
      assert.deepEqual(lines, run.lines, 'the client has the whole journal, nothing was written after its end');
      assert.deepEqual(readAudit(stateDir()).filter((r) => r.op === 'sb-orphan-1').map((r) => r.outcome), ['succeeded']);
    } finally {
      if (standby && alive(standby.pid)) process.kill(standby.pid, 'SIGCONT');
      await agent.stop();
    }
  });

  test('standbyWorker "auto" (the default): a standby only while an authenticated controller runs ops on the host', async () => {
    const agent = await startAgent(bed, 'h1', { overrides: { standbyIdleTimeout: 2 } });
    try {
      const c = connect(agent, bed.token);
      await c.connect();
      await c.status();
      await c.generations();
      // Reads alone (an editor listing its fleet) keep none. The op below shows the agent
      // does start one, so this is no check of an agent that never would.
      assert.deepEqual(standbyIds(), [], 'none for reads');
      // The first op starts cold; once it ended, a standby loads for the next.
      const run = await c.startOp('sb-auto-1', 'switch', {}).then(() => c.follow('sb-auto-1'));
      assert.equal(run.op.state, 'succeeded', run.op.error);
      const first = await waitFor('a standby after the op', readyStandby, 30_000);
      assert.notEqual(workerOf('sb-auto-1').pid, first.pid);
      const again = await c.startOp('sb-auto-2', 'switch', {}).then(() => c.follow('sb-auto-2'));
      assert.equal(again.op.state, 'succeeded', again.op.error);
      assert.equal(workerOf('sb-auto-2').pid, first.pid, 'the standby ran it');
      // The client stays connected and reads, but starts no op: retired after standbyIdleTimeout.
      const next = await waitFor('the next standby', () => {
        const s = readyStandby();
        return s && s.id !== first.id ? s : undefined;
      }, 30_000);
      await c.status();
      await waitFor('the idle standby retired', () => !alive(next.pid) && standbyIds().length === 0, 30_000);
      c.close();
    } finally {
      await agent.stop();
    }
  });

  test('the Nix version a standby asked ahead is asked again when the nix on PATH changed', async () => {
    const real = execFileSync('sh', ['-c', 'command -v nix'], { env: bed.env, encoding: 'utf8' }).trim();
    const dir = mkdtempSync(path.join(bed.root, 'nixwrap-'));
    const wrapper = (version: string) => {
      const tmp = path.join(dir, 'nix.new');
      writeFileSync(tmp, `#!/bin/sh\nif [ "$1" = --version ]; then echo "${version}"; exit 0; fi\nexec ${real} "$@"\n`);
      chmodSync(tmp, 0o755);
      renameSync(tmp, path.join(dir, 'nix')); // a new file, as a Nix upgrade makes
    };
    wrapper('nix (Nix) 2.8.0');
    const agent = await startAgent(bed, 'h1', { env: { PATH: `${dir}:${bed.env.PATH}` }, overrides: { standbyWorker: true } });
    try {
      await waitFor('a ready standby worker', readyStandby, 30_000);
      wrapper('not a version at all');
      const run = await switchOnce(agent, 'sb-nix-1');
      assert.equal(run.op.state, 'failed');
      assert.match(run.op.error ?? '', /cannot read the Nix version/);
      wrapper('nix (Nix) 2.8.0');
      await waitFor('the next standby worker', readyStandby, 30_000);
      const ok = await switchOnce(agent, 'sb-nix-2');
      assert.equal(ok.op.state, 'succeeded', ok.op.error);
    } finally {
      await agent.stop();
    }
  });
});
