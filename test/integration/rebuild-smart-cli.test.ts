// The real agent CLI (`node dist/agent.js rebuild-smart`, op worker, journal) end to end:
// flag validation, a failed rebuild with the interactive rollback prompt on a terminal
// (a pty from util-linux `script`), and no prompt without a terminal.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import type { TestBed } from '../fixtures/testbed';
import { currentGenerationOf, git, runSmart, sharedBed, upstream } from './rebuild-smart-fixtures';

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const agent = path.join(repoRoot, 'dist/agent.js');
const FAILING = { healthChecks: [['sh', '-c', 'echo "web is down" >&2; exit 4']] };
const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

let bed: TestBed;
sharedBed((b) => (bed = b));

function cli(args: string[], input?: string) {
  return spawnSync(process.execPath, [agent, ...args], { env: process.env, encoding: 'utf8', input, timeout: 120_000 });
}

test('flags are validated before anything runs', () => {
  const config = bed.writeConfig('h1');
  let r = cli(['rebuild-smart', '--config', config, '--update', '--skip-update']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--update and --skip-update contradict each other/);
  r = cli(['rebuild-smart', '--config', config, '--rollback', '--offline']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--rollback takes no phase flags/);
  r = cli(['rebuild-smart', '--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout + r.stderr, /--rollback-on-failure/);
});

test('without a terminal a failed rebuild does not prompt; the error says how to roll back', async () => {
  const h = bed.host('h1');
  const genBefore = currentGenerationOf(h.profile)!;
  await upstream(bed, (b) => b.setVersion('h1', '24.05.90'));
  const r = cli(['rebuild-smart', '--config', bed.writeConfig('h1', FAILING)], 'y\n');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /✗ checks: health check failed: .*web is down/);
  assert.match(r.stderr, /nixfleet-agent rebuild-smart --rollback/);
  assert.doesNotMatch(r.stderr, /Roll back to the commit/);
  assert.notEqual(currentGenerationOf(h.profile)!.generation, genBefore.generation, 'left on the failed generation');
  // Then --rollback through the CLI restores it.
  const rb = cli(['rebuild-smart', '--config', bed.writeConfig('h1'), '--rollback']);
  assert.equal(rb.status, 0, rb.stderr);
  assert.equal(currentGenerationOf(h.profile)!.generation, genBefore.generation);
});

test('on a terminal a failed rebuild asks, and "y" rolls back commit and generation', async () => {
  const h = bed.host('h1');
  await git(h.checkout, 'pull', '-q', '--rebase');
  const commitBefore = await git(h.checkout, 'rev-parse', 'HEAD');
  const genBefore = currentGenerationOf(h.profile)!;
  await upstream(bed, (b) => b.setVersion('h1', '24.05.91'));
  const config = bed.writeConfig('h1', FAILING);
  const command = [process.execPath, agent, 'rebuild-smart', '--config', config].map(sh).join(' ');
  const r = spawnSync('script', ['-q', '-e', '-c', command, '/dev/null'], { env: process.env, encoding: 'utf8', input: 'y\n', timeout: 120_000 });
  const out = r.stdout + r.stderr;
  assert.match(out, /Roll back to the commit and generation [0-9]+ recorded before this run\? \[y\/N\]/, out);
  assert.match(out, /follow-up rebuild-smart succeeded/);
  assert.equal(r.status, 1, 'the rebuild itself still failed');
  assert.equal(await git(h.checkout, 'rev-parse', 'HEAD'), commitBefore);
  const now = currentGenerationOf(h.profile)!;
  assert.equal(now.generation, genBefore.generation);
  assert.equal(bed.activations('h1').at(-1)!.storePath, genBefore.path);
});
