// The standby worker under workerLauncher systemd-run, through the recording systemd-run
// TEST DOUBLE (test/fixtures/doubles/systemd-run; see agent-systemd-run.test.ts): it runs in
// a transient unit of its own, which the op's worker record names so cancel finds it; when
// systemd-run fails the standby starts detached and ops still run in it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { systemdRunDouble, type SystemdRunDouble } from '../fixtures/systemdRunDouble';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, connect, startAgent, waitFor } from './agent-harness';

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
const stateDir = () => bed.host('h1').stateDir;
const opPath = (opId: string, file: string) => path.join(stateDir(), 'ops', opId, file);
const workerOf = (opId: string) => JSON.parse(readFileSync(opPath(opId, 'worker.json'), 'utf8')) as { pid: number; unit?: string };

function readyStandby(): { id: string; pid: number; unit?: string } | undefined {
  const root = path.join(stateDir(), 'standby');
  for (const id of existsSync(root) ? readdirSync(root).filter((n) => /^[0-9a-f]{12}$/.test(n)) : []) {
    try {
      return { id, ...(JSON.parse(readFileSync(path.join(root, id, 'standby.json'), 'utf8')) as { pid: number; unit?: string }) };
    } catch {
      /* not ready yet */
    }
  }
  return undefined;
}

describe('the standby worker under workerLauncher systemd-run (recording test double)', () => {
  test('it runs in unit nixfleet-standby-<id>; the op it claims records that unit, says so, and is cancelled through it', async () => {
    bed.setHook('h1', 'echo waiting; sleep 60\n');
    const agent = await startAgent(bed, 'h1', { env, flags: ['--worker-launcher', 'systemd-run', '--standby-worker', 'true'] });
    const c = connect(agent, bed.token);
    try {
      const standby = await waitFor('a ready standby worker', readyStandby, 30_000);
      const unit = `nixfleet-standby-${standby.id}`;
      assert.equal(standby.unit, unit);
      const rec = runs().find((r) => r.unit === unit);
      assert.ok(rec && rec.failed === undefined, JSON.stringify(runs()));
      assert.equal(rec.mainPid, standby.pid, 'the standby is the unit\'s main process');
      const sep = rec.argv.indexOf('--');
      assert.deepEqual(rec.argv.slice(sep + 1), [process.execPath, AGENT_JS, 'standby', '--state-dir', stateDir(), '--standby', standby.id]);
      const opts = rec.argv.slice(0, sep);
      assert.ok(opts.includes(`--setenv=NIXFLEET_OP_UNIT=${unit}`));
      assert.ok(opts.includes('--property=KillMode=control-group'));
      assert.ok(opts.includes(`--property=StandardError=append:${path.join(stateDir(), 'standby', standby.id, 'worker.log')}`));

      await c.connect();
      await c.startOp('sbsd-1', 'switch', {});
      const lines: string[] = [];
      const done = c.follow('sbsd-1', (ls) => lines.push(...ls.map((l) => l.text)));
      await waitFor('the activation running', () => lines.includes('waiting'), 30_000);
      const worker = workerOf('sbsd-1');
      assert.equal(worker.pid, standby.pid);
      assert.equal(worker.unit, unit);
      assert.match(lines[0]!, new RegExp(`^switch sbsd-1 on h1 started by .*, in systemd unit ${unit}\\)$`));
      assert.ok(existsSync(opPath('sbsd-1', 'worker.log')), 'its stderr log is the op\'s worker.log');
      await c.cancelOp('sbsd-1');
      const { op } = await done;
      assert.equal(op.state, 'cancelled', op.error);
    } finally {
      bed.setHook('h1', null);
      c.close();
      await agent.stop();
    }
  });

  test('systemd-run failing: the standby starts detached, the agent says so once, ops run in it', async () => {
    const agent = await startAgent(bed, 'h1', { env: { ...env, NIXFLEET_SYSTEMD_RUN_FAIL: '1' }, flags: ['--worker-launcher', 'systemd-run', '--standby-worker', 'true'] });
    const c = connect(agent, bed.token);
    try {
      const standby = await waitFor('a ready standby worker', readyStandby, 30_000);
      assert.equal(standby.unit, undefined);
      assert.match(agent.stderr(), /could not start the standby worker as systemd unit nixfleet-standby-[0-9a-f]{12}: systemd-run exited with 1: Failed to connect to bus/);
      await c.connect();
      await c.startOp('sbsd-2', 'switch', {});
      const { op } = await c.follow('sbsd-2');
      assert.equal(op.state, 'succeeded', op.error);
      assert.equal(workerOf('sbsd-2').pid, standby.pid);
    } finally {
      c.close();
      await agent.stop();
    }
  });
});
