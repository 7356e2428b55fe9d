// `nixfleet deploy` (the real dist/nixfleet.js) across three real agents on the Nix test
// bed, one of which fails its activation: the extension's deploy engine, driven from the
// command line, with its progress on stderr, its summary on stdout, the exit status, and
// the profile links on disk.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, startAgent, type RunningAgent } from './agent-harness';
import { NIXFLEET_JS, profileGeneration, runCli, writeFleetFiles } from './cli-harness';
import type { DeploySummary } from '../../src/deploy/summary';
import type { DeployRecord } from '../../src/deploy/types';

const execFileP = promisify(execFile);
const HOSTS = ['h1', 'h2', 'h3'];

describe('nixfleet deploy across three hosts', { skip: (!existsSync(AGENT_JS) || !existsSync(NIXFLEET_JS)) && 'dist/ missing: run npm run build' }, () => {
  let bed: TestBed;
  const agents: RunningAgent[] = [];
  let files: ReturnType<typeof writeFleetFiles>;
  let common: string[];
  const gen = (h: string) => profileGeneration(bed.host(h).profile);
  const bump = (version: string) => bed.commit(Object.fromEntries(HOSTS.map((h) => [`hosts/${h}/version`, version + '\n'])), `bump to ${version}`);

  before(async () => {
    bed = await createTestBed({ hosts: HOSTS.map((name) => ({ name, platform: 'nixos' as const })) });
    for (const h of HOSTS) {
      const storePath = await bed.build(h, bed.workstation);
      await execFileP('nix-env', ['-p', bed.host(h).profile, '--set', storePath], { env: bed.env });
      agents.push(await startAgent(bed, h));
    }
    files = writeFleetFiles(HOSTS.map((h, i) => ({ name: h, url: agents[i]!.url })), bed.token);
    common = ['--hosts-file', files.hostsFile, '--tokens-file', files.tokensFile];
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    files?.cleanup();
    await bed?.cleanup();
  });

  it('one host fails: the others succeed, the summary names the failing line, exit 1; profiles on disk agree', async () => {
    const commit = await bump('24.05.2');
    bed.setFail('h3', true);
    const r = await runCli(['deploy', '--rev', commit, '--canaries', 'h1', '--parallelism', '2', '--yes', '--json', ...common]);
    assert.equal(r.status, 1, r.stderr);
    const { summary, record } = JSON.parse(r.stdout) as { summary: DeploySummary; record: DeployRecord };
    const by = Object.fromEntries(record.hosts.map((h) => [h.host, h]));
    assert.equal(record.state, 'failed');
    assert.equal(record.stoppedBy, 'h3');
    assert.deepEqual(record.hosts.map((h) => h.host), ['h1', 'h2', 'h3'], 'the canary first');
    assert.equal(by.h1!.outcome, 'succeeded');
    assert.equal(by.h2!.outcome, 'succeeded');
    assert.equal(by.h3!.outcome, 'failed-switch');
    assert.match(by.h3!.failingLine!, /activation of \/nix\/store\/\S+ failed \(test bed fail marker/);
    assert.match(summary.headline, new RegExp(`^Deploy of commit ${commit.slice(0, 12)} failed on h3: .*test bed fail marker`));
    // The closure diff preview ran before anything switched, and its diffs were shown.
    assert.match(r.stderr, /closure diff of h1:\n {2}.*24\.05\.2/);
    // Each host's progress, in order per host.
    assert.match(r.stderr, /^h1: switch…$[\s\S]*^h1: succeeded \(generation 1 → 2\)$/m);
    assert.match(r.stderr, /^h3: failed \(switch\).*: .*test bed fail marker/m);
    // On disk: h1 and h2 switched; h3's failed activation was undone by its agent.
    assert.equal(gen('h1'), 2);
    assert.equal(gen('h2'), 2);
    assert.equal(gen('h3'), 1);
  });

  it('a failing canary stops the rest: they are "not attempted" and untouched on disk; the text summary says so', async () => {
    const commit = await bump('24.05.3');
    const activations = { h1: bed.activations('h1').length, h2: bed.activations('h2').length };
    const r = await runCli(['deploy', '--rev', commit, '--canaries', 'h3', '--no-closure-diff', '--yes', ...common]);
    assert.equal(r.status, 1, r.stderr);
    bed.setFail('h3', false);
    const rows = r.stdout.trim().split('\n');
    assert.match(rows[0]!, /^Deploy of commit \S+ failed on h3/);
    assert.deepEqual(rows.slice(1).map((l) => l.split('\t').slice(0, 3)), [
      ['h3', 'canary', 'failed (switch)'],
      ['h1', '-', 'not attempted'],
      ['h2', '-', 'not attempted'],
    ]);
    assert.equal(gen('h1'), 2);
    assert.equal(gen('h2'), 2);
    assert.equal(bed.activations('h1').length, activations.h1, 'h1 was not touched');
    assert.equal(bed.activations('h2').length, activations.h2, 'h2 was not touched');

    // Fixed: the same commit to h3 alone succeeds, exit 0.
    const ok = await runCli(['deploy', '--rev', commit, '--hosts', 'h3', '--no-closure-diff', '--yes', ...common]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^Deployed commit \S+ to 1 host$/m);
    // The profile now points at the system of this commit, which is what was activated last.
    const last = bed.activations('h3').at(-1)!;
    assert.match(last.storePath, /24\.05\.3/);
    assert.equal(realpathSync(bed.host('h3').profile), last.storePath);
  });

  it('an unreachable host stops the deploy before any host changes', async () => {
    const commit = await bump('24.05.4');
    const before = HOSTS.map(gen);
    await agents[1]!.stop();
    try {
      const r = await runCli(['deploy', '--rev', commit, '--no-closure-diff', '--yes', '--json', ...common]);
      assert.equal(r.status, 1);
      const { record } = JSON.parse(r.stdout) as { record: DeployRecord };
      const h2 = record.hosts.find((h) => h.host === 'h2')!;
      assert.match(h2.error!, /host h2: could not read its status before deploying \(host h2 is offline .*ECONNREFUSED/);
      assert.deepEqual(record.hosts.filter((h) => h.host !== 'h2').map((h) => h.outcome), ['not-attempted', 'not-attempted']);
      assert.deepEqual(HOSTS.map(gen), before);
    } finally {
      agents[1] = await startAgent(bed, 'h2', { port: agents[1]!.port });
    }
  });
});
