// An op's first command started ahead of its worker's set-up (agent/runner/headStart.ts),
// through a serving agent: the build of a switch runs as the op's own, with its lines in
// the journal's order; a switch its validation refuses stops the build it started, and
// nothing is left running. A recording `nix` (a test double around the real one, first on
// the agent's PATH) says when it was started and stopped.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { runOpOnce, startAgent, waitFor } from './agent-harness';

let bed: TestBed;
let log: string;
let env: Record<string, string>;
before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  const bin = path.join(bed.root, 'recording-nix');
  mkdirSync(bin);
  log = path.join(bed.root, 'nix-calls');
  const realNix = bed.env.PATH!.split(':').map((d) => path.join(d, 'nix')).find((f) => existsSync(f))!;
  // Records `nix build` runs; on SIGTERM (a stopped command's process group) says so.
  writeFileSync(
    path.join(bin, 'nix'),
    `#!/bin/sh\n[ "$1" = build ] || exec '${realNix}' "$@"\necho "build $$" >> '${log}'\ntrap 'echo "stopped $$" >> '"'${log}'"'; kill $child 2>/dev/null; exit 143' TERM\n'${realNix}' "$@" & child=$!\nwait $child\n`,
  );
  chmodSync(path.join(bin, 'nix'), 0o755);
  env = { PATH: `${bin}:${bed.env.PATH}` };
});
after(async () => {
  await bed?.cleanup();
});

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
    writeFileSync(log, '');
    const run = await switchThroughAgent('ahead-refused');
    assert.equal(run.op.state, 'failed');
    assert.match(run.op.error ?? '', /generations\.json is corrupt/);
    assert.deepEqual(run.lines.filter((l) => /^\$ nix build /.test(l.text)), [], 'the op never ran the build');
    const started = calls().filter((l) => l.startsWith('build '));
    assert.equal(started.length, 1, 'the build had been started ahead');
    const pid = started[0]!.split(' ')[1];
    await waitFor('the recording nix to say it was stopped', () => calls().includes(`stopped ${pid}`), 10_000);
    assert.deepEqual(buildsRunning(), [], 'no build left running once the op ended');
    assert.equal(readlinkSync(h.profile), before, 'the profile did not move');
  });
});
