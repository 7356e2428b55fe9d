// An op's first command started ahead of its worker's set-up (agent/runner/headStart.ts),
// through a serving agent: the build of a switch runs as the op's own, with its lines in
// the journal's order; a switch its validation refuses stops the build it started, and
// nothing is left running. With a standby, the build starts in it as soon as the agent
// holds the host lock for the op (standbyHandoff.ts `ahead`): it runs as the op's own, and
// an op the agent then fails to record has its build stopped and its standby replaced.
// A recording `nix` (a test double around the real one, first on the agent's PATH) says
// when it was started and stopped, and by which process; it can be made slow.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { loadConfig } from '../../agent/config';
import { processStartTime } from '../../agent/runner/process';
import { StandbyWorker } from '../../agent/runner/standby';
import { ROOT, runOpOnce, startAgent, waitFor, type RunningAgent } from './agent-harness';

let bed: TestBed;
let log: string;
let slow: string;
let env: Record<string, string>;
before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  const bin = path.join(bed.root, 'recording-nix');
  mkdirSync(bin);
  log = path.join(bed.root, 'nix-calls');
  slow = path.join(bed.root, 'slow');
  const realNix = bed.env.PATH!.split(':').map((d) => path.join(d, 'nix')).find((f) => existsSync(f))!;
  // Records `nix build` runs; on SIGTERM (a stopped command's process group) says so. The
  // trap comes first: a build stopped at once may get SIGTERM before it logged its start
  // (exec resets it for the other nix commands).
  writeFileSync(
    path.join(bin, 'nix'),
    `#!/bin/sh\ntrap 'echo "stopped $$" >> '"'${log}'"'; kill $child 2>/dev/null; exit 143' TERM\n[ "$1" = build ] || exec '${realNix}' "$@"\necho "build $$ $PPID" >> '${log}'\n` +
      // While the file `slow` exists, a build first waits (a long one, as a real system's).
      `if [ -e '${slow}' ]; then sleep 60 & child=$!; wait $child; fi\n'${realNix}' "$@" & child=$!\nwait $child\n`,
  );
  chmodSync(path.join(bin, 'nix'), 0o755);
  env = { PATH: `${bin}:${bed.env.PATH}` };
});
after(async () => {
  await bed?.cleanup();
});

const alive = (pid: number) => processStartTime(pid) !== undefined;
const calls = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : []);
/** Processes whose command line runs the recording nix's build. */
const buildsRunning = () =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('recording-nix/nix\0build');
      } catch {
        return false;
      }
    });

/** A switch asked of a fresh agent for h1 (the recording nix first on its PATH), followed to its end. */
async function switchThroughAgent(opId: string) {
  const agent = await startAgent(bed, 'h1', { env });
  try {
    return await runOpOnce(agent, bed.token, opId);
  } finally {
    await agent.stop();
  }
}

describe('the first command of an op, started ahead', () => {
  test("a switch's build runs as the op's own: its `$` line, its output and its result, in order", async () => {
    const run = await switchThroughAgent('ahead-1');
    assert.equal(run.op.state, 'succeeded', run.op.error);
    const texts = run.lines.map((l) => l.text);
    const at = (re: RegExp) => texts.findIndex((t) => re.test(t));
    assert.ok(at(/ started by /) < at(/current generation/), texts.join('\n'));
    assert.ok(at(/current generation/) < at(/^\$ nix build /));
    assert.ok(at(/^\$ nix build /) < at(/^built \/nix\/store\//));
    assert.equal(texts.filter((t) => /^\$ nix build /.test(t)).length, 1, 'built once');
    assert.equal(calls().filter((l) => l.startsWith('build')).length, 1);
    assert.equal(readlinkSync(bed.host('h1').profile).endsWith('-1-link'), true);
  });

  test('a switch its validation refuses stops the build it started ahead: nothing left running, no build in its journal', async () => {
    const h = bed.host('h1');
    const before = readlinkSync(h.profile);
    writeFileSync(path.join(h.stateDir, 'generations.json'), '{"version":1,"revisions":{"x":{"revision":5}},"checks":{}}');
    // The refusal may stop the build before its shell ran a line (SIGTERM's default then
    // ends it unrecorded): tried again, up to 5 times, until the recording nix shows the
    // build it started; every try must leave nothing running and the profile where it was.
    // The build is made slow: one already in the store can end before the refusal on a busy
    // machine, and then there is nothing left to stop.
    writeFileSync(slow, '');
    let seen: string[] = [];
    try {
      for (let attempt = 1; attempt <= 5 && seen.length === 0; attempt++) {
        writeFileSync(log, '');
        const run = await switchThroughAgent(`ahead-refused-${attempt}`);
        assert.equal(run.op.state, 'failed');
        assert.match(run.op.error ?? '', /generations\.json is corrupt/);
        assert.deepEqual(run.lines.filter((l) => /^\$ nix build /.test(l.text)), [], 'the op never ran the build');
        assert.deepEqual(buildsRunning(), [], 'no build left running once the op ended');
        assert.equal(readlinkSync(h.profile), before, 'the profile did not move');
        seen = calls().filter((l) => /^(build|stopped) /.test(l));
      }
    } finally {
      rmSync(slow, { force: true });
    }
    const pids = new Set(seen.map((l) => l.split(' ')[1]));
    assert.equal(pids.size, 1, `the build had been started ahead, once: ${seen.join('; ')}`);
    const [pid] = pids;
    await waitFor('the recording nix to say it was stopped', () => calls().includes(`stopped ${pid}`), 10_000);
  });

  describe('with a standby: started as soon as the agent holds the host lock for the op', () => {
    let agent: RunningAgent;
    before(async () => {
      rmSync(path.join(bed.host('h1').stateDir, 'generations.json'), { force: true }); // the refused switch's corrupt one
      agent = await startAgent(bed, 'h1', { env, overrides: { standbyWorker: 'always' } });
    });
    after(async () => {
      await agent?.stop();
    });
    const standbyRoot = () => path.join(bed.host('h1').stateDir, 'standby');
    /** The ready standby's id and pid. */
    const readyStandby = () =>
      waitFor('a ready standby', () => {
        for (const id of existsSync(standbyRoot()) ? readdirSync(standbyRoot()).filter((n) => /^[0-9a-f]{12}$/.test(n)) : []) {
          try {
            return { id, pid: (JSON.parse(readFileSync(path.join(standbyRoot(), id, 'standby.json'), 'utf8')) as { pid: number }).pid };
          } catch {
            /* not ready yet */
          }
        }
        return undefined;
      });

    test("the standby's build runs as the op's own: started by the process that runs the op, once, its lines in order", async () => {
      const standby = await readyStandby();
      writeFileSync(log, '');
      const run = await runOpOnce(agent, bed.token, 'ahead-standby');
      assert.equal(run.op.state, 'succeeded', run.op.error);
      const worker = JSON.parse(readFileSync(path.join(bed.host('h1').stateDir, 'ops', 'ahead-standby', 'worker.json'), 'utf8')) as { pid: number };
      assert.equal(worker.pid, standby.pid, 'the standby ran the op');
      const builds = calls().filter((l) => l.startsWith('build '));
      assert.equal(builds.length, 1, 'built once');
      assert.equal(builds[0]!.split(' ')[2], String(standby.pid), 'started by the standby');
      const texts = run.lines.map((l) => l.text);
      const at = (re: RegExp) => texts.findIndex((t) => re.test(t));
      assert.equal(texts.filter((t) => /^\$ nix build /.test(t)).length, 1);
      assert.ok(at(/ started by /) < at(/^\$ nix build /) && at(/^\$ nix build /) < at(/^built \/nix\/store\//), texts.join('\n'));
    });

    test('an op the agent cannot record after telling its standby: nothing the standby started is left running, it is replaced, the next switch runs', async () => {
      const h = bed.host('h1');
      const standby = await readyStandby();
      const profileBefore = readlinkSync(h.profile);
      writeFileSync(log, '');
      // The audit log is written after the host lock is taken (and the standby told): a
      // planted symlink makes that write fail, so the op is refused. (Whether the standby
      // started the build before it was retired is a race: the next test drives that.)
      const audit = path.join(h.stateDir, 'audit.jsonl');
      const kept = path.join(bed.root, 'audit-kept.jsonl');
      if (existsSync(audit)) writeFileSync(kept, readFileSync(audit));
      rmSync(audit, { force: true });
      symlinkSync(path.join(bed.root, 'elsewhere'), audit);
      try {
        await assert.rejects(runOpOnce(agent, bed.token, 'ahead-unrecorded'), /cannot be recorded in the audit log/);
      } finally {
        rmSync(audit);
        if (existsSync(kept)) writeFileSync(audit, readFileSync(kept));
      }
      await waitFor('the told standby to be gone', () => !alive(standby.pid), 10_000);
      for (const started of calls().filter((l) => l.startsWith('build '))) {
        const pid = started.split(' ')[1];
        await waitFor('the recording nix to say it was stopped', () => calls().includes(`stopped ${pid}`), 10_000);
      }
      assert.deepEqual(buildsRunning(), [], 'no build left running');
      assert.equal(existsSync(path.join(h.stateDir, 'ops', 'ahead-unrecorded')), false, 'no record of the refused op');
      assert.equal(readlinkSync(h.profile), profileBefore, 'the profile did not move');
      const next = await readyStandby();
      assert.notEqual(next.pid, standby.pid, 'a new standby');
      const run = await runOpOnce(agent, bed.token, 'ahead-after');
      assert.equal(run.op.state, 'succeeded', run.op.error);
    });
  });

  test('a standby told of an op that is then withdrawn: the build it started is stopped, it is retired and replaced', async () => {
    // The standby as the agent drives it (runner/standby.ts), from this process, on a state
    // directory of its own, started as the agent starts it (from source, as this process
    // runs: a standby runs only for an agent of its own version; the recording nix first on
    // PATH): the build is seen running before the withdrawal, deterministically.
    const stateDir = path.join(bed.root, 'withdraw-state');
    mkdirSync(stateDir, { mode: 0o700 });
    const config = loadConfig(bed.writeConfig('h1', { standbyWorker: 'always', stateDir }));
    const saved = { ...process.env };
    Object.assign(process.env, bed.env, env, { NIXFLEET_AGENT_ENTRY: path.join(ROOT, 'agent/main.ts'), NIXFLEET_NO_SYSTEMD: '1' });
    const standbys = new StandbyWorker(config, 'always', () => {});
    try {
      standbys.start(() => assert.fail('no earlier agent handed an op'));
      const ready = (not?: number) =>
        waitFor('a ready standby', () => {
          for (const id of readdirSync(path.join(stateDir, 'standby')).filter((n) => /^[0-9a-f]{12}$/.test(n))) {
            try {
              const pid = (JSON.parse(readFileSync(path.join(stateDir, 'standby', id, 'standby.json'), 'utf8')) as { pid: number }).pid;
              if (pid !== not) return pid;
            } catch {
              /* not ready yet */
            }
          }
          return undefined;
        });
      const pid = await ready();
      writeFileSync(log, '');
      writeFileSync(slow, '');
      standbys.startAhead('withdrawn-op', 'switch', {});
      const build = await waitFor('the standby to start the build', () => calls().find((l) => l.startsWith('build ')), 10_000);
      assert.equal(build.split(' ')[2], String(pid), 'started by the standby');
      assert.equal(buildsRunning().length, 1, 'running');
      standbys.withdrawAhead('withdrawn-op');
      await waitFor('the recording nix to say it was stopped', () => calls().includes(`stopped ${build.split(' ')[1]}`), 10_000);
      await waitFor('the standby to be gone', () => !alive(pid), 10_000);
      assert.deepEqual(buildsRunning(), [], 'no build left running');
      assert.notEqual(await ready(pid), pid, 'a new standby');
    } finally {
      rmSync(slow, { force: true });
      standbys.close();
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});
