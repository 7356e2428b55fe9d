// The systemd-run worker launcher (config workerLauncher), run for real through a
// recording systemd-run TEST DOUBLE (test/fixtures/doubles/systemd-run: no systemd runs
// as PID 1 on the test machines) that starts the worker the way systemd would: a new
// session, detached, only the --setenv environment, stderr appended to the given file.
// Real agents, real workers, real Nix switches of the test bed.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { OutputLine } from '../../protocol';
import { readAllLines } from '../../agent/journal/reader';
import { readAudit } from '../../agent/journal/audit';
import { systemdRunDouble, type SystemdRunDouble } from '../fixtures/systemdRunDouble';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, cli, connect, startAgent, waitFor, type RunningAgent } from './agent-harness';

let bed: TestBed;
let env: Record<string, string>;
let double: SystemdRunDouble;

before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  double = systemdRunDouble(bed);
  env = double.env;
});
after(async () => {
  await bed?.cleanup();
});

const runs = () => double.runs();
const runFor = (opId: string) => runs().filter((r) => r.argv.includes(`--unit=nixfleet-op-${opId}`));
const opPath = (opId: string, file: string) => path.join(bed.host('h1').stateDir, 'ops', opId, file);
const workerOf = (opId: string) => JSON.parse(readFileSync(opPath(opId, 'worker.json'), 'utf8')) as { pid: number; startTime?: string; unit?: string };
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** The process's environment as the kernel holds it. */
const environOf = (pid: number) =>
  Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
/** Session id (field 6 of /proc/PID/stat). */
const sessionOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6 - 3]);
};

function assertComplete(lines: OutputLine[], lastSeq: number): void {
  assert.equal(lines.length, lastSeq, 'one line per seq');
  lines.forEach((l, i) => assert.equal(l.seq, i + 1, `line ${i} has seq ${l.seq}`));
}

// Workers started cold, one unit per op: the standby worker's unit is tested in agent-standby-systemd-run.test.ts.
const startSd = (port?: number, extraEnv: Record<string, string> = {}): Promise<RunningAgent> =>
  startAgent(bed, 'h1', { env: { ...env, ...extraEnv }, flags: ['--worker-launcher', 'systemd-run', '--standby-worker', 'false'], ...(port ? { port } : {}) });

describe('workerLauncher systemd-run (through a recording systemd-run test double)', () => {
  test('the op runs in unit nixfleet-op-<id> and streams; the worker records its own pid and unit; systemd-run got the documented argv', async () => {
    bed.setHook('h1', 'i=1; while [ $i -le 40 ]; do echo "unit line $i"; i=$((i+1)); sleep 0.02; done\n');
    const agent = await startSd();
    const c = connect(agent, bed.token);
    try {
      await c.connect();
      await c.startOp('sd-1', 'switch', {});
      // While it runs: the worker is the unit's main process, in its own session, with
      // exactly the environment systemd-run was given (not the agent's).
      const worker = await waitFor('worker.json', () => existsSync(opPath('sd-1', 'worker.json')) && workerOf('sd-1'));
      const [rec] = runFor('sd-1');
      assert.ok(rec && rec.failed === undefined, JSON.stringify(runs()));
      assert.equal(worker.unit, 'nixfleet-op-sd-1');
      assert.equal(worker.pid, rec.mainPid, 'the worker recorded the pid systemd started');
      assert.equal(sessionOf(worker.pid), worker.pid, 'the worker leads its own session');
      const wenv = environOf(worker.pid);
      const setenv = Object.fromEntries(rec.argv.filter((a) => a.startsWith('--setenv=')).map((a) => [a.slice(9, a.indexOf('=', 9)), a.slice(a.indexOf('=', 9) + 1)]));
      assert.deepEqual(wenv, setenv, 'the worker started with exactly the --setenv variables');
      assert.equal(wenv.PATH, env.PATH, 'PATH passed through');
      assert.equal(wenv.HOME, bed.env.HOME, 'HOME passed through');
      assert.equal(wenv.NIXFLEET_OP_UNIT, 'nixfleet-op-sd-1');
      assert.equal(wenv.NIXFLEET_TESTBED_ROOT, undefined, 'the agent\'s other variables are not inherited');

      const { op, lines } = await c.follow('sd-1');
      assert.equal(op.state, 'succeeded', op.error);
      assertComplete(lines, op.lastSeq);
      assert.deepEqual(lines.filter((l) => l.text.startsWith('unit line')).map((l) => l.text), Array.from({ length: 40 }, (_, i) => `unit line ${i + 1}`));
      assert.match(lines[0]!.text, /^switch sd-1 on h1 started by .*, in systemd unit nixfleet-op-sd-1\)$/);

      // The argv, as systemd-run received it.
      const sep = rec.argv.indexOf('--');
      const opts = rec.argv.slice(0, sep);
      assert.ok(opts.includes('--collect'));
      assert.ok(opts.includes('--quiet'));
      assert.ok(opts.includes('--unit=nixfleet-op-sd-1'));
      assert.ok(opts.includes('--property=KillMode=control-group'));
      assert.ok(opts.includes(`--property=StandardError=append:${opPath('sd-1', 'worker.log')}`));
      assert.ok(opts.includes('--setenv=NIXFLEET_OP_UNIT=nixfleet-op-sd-1'));
      assert.ok(opts.includes(`--setenv=PATH=${env.PATH}`));
      assert.ok(opts.includes(`--setenv=HOME=${bed.env.HOME}`));
      assert.ok(!opts.some((a) => a.startsWith('--setenv=NIXFLEET_TESTBED_ROOT') || a.startsWith('--setenv=NIXFLEET_SYSTEMD_RUN_LOG')), 'only the documented variables');
      assert.deepEqual(rec.argv.slice(sep + 1), [process.execPath, AGENT_JS, 'run-op', '--state-dir', bed.host('h1').stateDir, '--op', 'sd-1']);
      // The stderr redirect was applied (the double created the file; the agent does not under systemd).
      assert.ok(existsSync(opPath('sd-1', 'worker.log')));
      assert.equal(bed.activations('h1').length > 0, true);
      assert.doesNotMatch(agent.stderr(), /could not start op/);
    } finally {
      bed.setHook('h1', null);
      c.close();
      await agent.stop();
    }
  });

  test('kill -9 of the agent: the unit\'s worker runs on and a restarted agent re-attaches and delivers the full log', async () => {
    bed.setHook('h1', 'i=1; while [ $i -le 200 ]; do echo "k9 line $i"; i=$((i+1)); sleep 0.01; done\n');
    let agent = await startSd();
    const port = agent.port;
    const c = connect(agent, bed.token);
    try {
      await c.connect();
      await c.startOp('sd-k9', 'switch', {});
      const all: OutputLine[] = [];
      let seen = 0;
      const done = c.follow('sd-k9', (ls) => {
        all.push(...ls);
        seen += ls.filter((l) => l.text.startsWith('k9 line')).length;
      });
      await waitFor('some output', () => seen >= 20, 30_000);
      await agent.kill9();
      const { pid, unit } = workerOf('sd-k9');
      assert.equal(unit, 'nixfleet-op-sd-k9');
      assert.ok(alive(pid), 'the unit\'s worker outlived the agent');
      agent = await startSd(port);
      const { op } = await done;
      assert.equal(op.state, 'succeeded', op.error);
      assertComplete(all, op.lastSeq);
      assert.deepEqual(all, await readAllLines(opPath('sd-k9', 'journal.jsonl')));
      assert.deepEqual(all.filter((l) => l.text.startsWith('k9 line')).map((l) => l.text), Array.from({ length: 200 }, (_, i) => `k9 line ${i + 1}`));
      assert.equal(runFor('sd-k9').length, 1, 'the restarted agent started no second unit');
    } finally {
      bed.setHook('h1', null);
      c.close();
      await agent.stop();
    }
  });

  test('a unit\'s worker that dies is marked interrupted (agent running, and agent down), the lock freed; cancel stops a unit\'s worker', async () => {
    bed.setHook('h1', 'echo started; sleep 60\n');
    let agent = await startSd();
    const port = agent.port;
    try {
      let c = connect(agent, bed.token);
      await c.connect();
      const activated = (opId: string) => waitFor(`${opId} activation`, async () => (await readAllLines(opPath(opId, 'journal.jsonl'))).some((l) => l.text === 'started'), 30_000);

      // Killed while the agent watches.
      await c.startOp('sd-dead-1', 'switch', {});
      await activated('sd-dead-1');
      process.kill(-workerOf('sd-dead-1').pid, 'SIGKILL');
      let r = await c.follow('sd-dead-1');
      assert.equal(r.op.state, 'interrupted');
      assert.match(r.op.error ?? '', /interrupted on host h1: its worker process \(pid \d+\) ended without recording a result/);

      // Killed while no agent runs: found on restart.
      await c.startOp('sd-dead-2', 'switch', {});
      await activated('sd-dead-2');
      c.close();
      await agent.kill9();
      const pid = workerOf('sd-dead-2').pid;
      process.kill(-pid, 'SIGKILL');
      await waitFor('worker gone', () => !alive(pid));
      agent = await startSd(port);
      c = connect(agent, bed.token);
      await c.connect();
      r = await c.follow('sd-dead-2');
      assert.equal(r.op.state, 'interrupted');
      assertComplete(r.lines, r.op.lastSeq);
      assert.equal((await c.status()).busy, undefined, 'the lock was released');
      assert.deepEqual(readAudit(bed.host('h1').stateDir).filter((a) => a.op?.startsWith('sd-dead')).map((a) => [a.op, a.outcome]), [['sd-dead-1', 'interrupted'], ['sd-dead-2', 'interrupted']]);

      // Cancel: the worker (the unit's main process, a session leader) and its tree stop.
      await c.startOp('sd-cancel', 'switch', {});
      await activated('sd-cancel');
      const w = workerOf('sd-cancel');
      await c.cancelOp('sd-cancel');
      r = await c.follow('sd-cancel');
      assert.equal(r.op.state, 'cancelled', r.op.error);
      await waitFor('the cancelled worker gone', () => !alive(w.pid));
      c.close();
    } finally {
      bed.setHook('h1', null);
      await agent.stop();
    }
  });

  test('systemd-run fails: the op still runs as a detached process, and the agent\'s log and the op\'s journal say so', async () => {
    bed.setHook('h1', 'echo "fallback ran"\n');
    const agent = await startSd(undefined, { NIXFLEET_SYSTEMD_RUN_FAIL: '1' });
    const c = connect(agent, bed.token);
    try {
      await c.connect();
      await c.startOp('sd-fail', 'switch', {});
      const { op, lines } = await c.follow('sd-fail');
      assert.equal(op.state, 'succeeded', op.error);
      assertComplete(lines, op.lastSeq);
      assert.ok(lines.some((l) => l.text === 'fallback ran'));
      const notice = /could not start op sd-fail as systemd unit nixfleet-op-sd-fail: systemd-run exited with 1: Failed to connect to bus: .*; running it as a detached process instead .*set workerLauncher to "direct" to skip systemd-run/;
      assert.match(agent.stderr(), notice);
      assert.match(lines[0]!.text, notice, 'the first journal line, before the worker\'s own');
      assert.match(lines[1]!.text, /^switch sd-fail on h1 started by .*\(agent [^,]+\)$/);
      const [rec] = runFor('sd-fail');
      assert.ok(rec?.failed, 'systemd-run was tried');
      const w = workerOf('sd-fail');
      assert.equal(w.unit, undefined);
      assert.ok(w.pid > 0);
    } finally {
      bed.setHook('h1', null);
      c.close();
      await agent.stop();
    }
  });

  // The real systemd-run, where it is installed but systemd is not PID 1 (containers, CI):
  // it fails, and the op must still run.
  const realSystemdRun = ['/usr/bin/systemd-run', '/bin/systemd-run'].find((p) => existsSync(p));
  test('the real systemd-run without a running systemd: the op runs detached and the log says why', { skip: !realSystemdRun || existsSync('/run/systemd/system') ? 'needs systemd-run installed on a machine where systemd does not run' : false }, async () => {
    const agent = await startAgent(bed, 'h1', { flags: ['--worker-launcher', 'systemd-run', '--standby-worker', 'false'] });
    const c = connect(agent, bed.token);
    try {
      await c.connect();
      await c.startOp('sd-real', 'switch', {});
      const { op, lines } = await c.follow('sd-real');
      assert.equal(op.state, 'succeeded', op.error);
      assert.match(lines[0]!.text, /^could not start op sd-real as systemd unit nixfleet-op-sd-real: systemd-run exited with 1: .+; running it as a detached process instead/);
      assert.match(agent.stderr(), /could not start op sd-real as systemd unit nixfleet-op-sd-real/);
      assert.equal(workerOf('sd-real').unit, undefined);
    } finally {
      c.close();
      await agent.stop();
    }
  });

  test('workerLauncher "direct" never calls systemd-run; "auto" follows the machine; a bad value is refused by name', async () => {
    const before = runs().length;
    const agent = await startAgent(bed, 'h1', { env, flags: ['--worker-launcher=direct'] });
    const c = connect(agent, bed.token);
    try {
      await c.connect();
      await c.startOp('direct-1', 'switch', {});
      assert.equal((await c.follow('direct-1')).op.state, 'succeeded');
      assert.equal(workerOf('direct-1').unit, undefined);
    } finally {
      c.close();
      await agent.stop();
    }
    // "auto" here: systemd-run only when /run/systemd/system exists and we are root.
    const auto = cli(bed, ['switch', '--config', bed.writeConfig('h1'), '--op-id', 'auto-1', '--json'], env);
    assert.equal(auto.status, 0, auto.stderr);
    const systemd = existsSync('/run/systemd/system') && process.getuid?.() === 0;
    assert.equal(workerOf('auto-1').unit, systemd ? 'nixfleet-op-auto-1' : undefined);
    assert.equal(runs().length - before, systemd ? 1 : 0);

    const bad = cli(bed, ['status', '--config', bed.writeConfig('h1'), '--worker-launcher', 'systemd'], env);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /workerLauncher must be "auto", "systemd-run" or "direct"/);
    const badFile = cli(bed, ['status', '--config', bed.writeConfig('h1', { workerLauncher: 'setsid' })], env);
    assert.equal(badFile.status, 2);
    assert.match(badFile.stderr, /workerLauncher: workerLauncher must be "auto", "systemd-run" or "direct"/);
  });
});
