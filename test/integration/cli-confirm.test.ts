// Magic rollback from the controller CLI when the op already waits for its confirmation
// before the CLI follows it. A standby worker starts an op at once, so a quick switch can
// reach its wait before the start reply is read and op.state was sent to nobody: the CLI
// must confirm from the record its subscription returns. Deterministic here: another client
// starts the switch and the test waits until the record carries confirmDeadline; then
// `nixfleet switch --op-id` with the same id finds that op and follows it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { readOpInfo } from '../../agent/journal/opStore';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, connect, startAgent, waitFor, type RunningAgent } from './agent-harness';
import { NIXFLEET_JS, profileGeneration, runCli, writeFleetFiles } from './cli-harness';

const execFileP = promisify(execFile);

describe('nixfleet CLI: an op already waiting for its confirmation', { skip: (!existsSync(AGENT_JS) || !existsSync(NIXFLEET_JS)) && 'dist/ missing: run npm run build' }, () => {
  let bed: TestBed;
  let agent: RunningAgent;
  let files: ReturnType<typeof writeFleetFiles>;

  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    // Generation 1: magic rollback waits only when there is a generation to go back to.
    const storePath = await bed.build('h1', bed.workstation);
    await execFileP('nix-env', ['-p', bed.host('h1').profile, '--set', storePath], { env: bed.env });
    // Long enough for the CLI to start on a busy machine; a missed confirmation fails the op.
    agent = await startAgent(bed, 'h1', { overrides: { confirmTimeout: 60 } });
    files = writeFleetFiles([{ name: 'h1', url: agent.url }], bed.token);
  });

  after(async () => {
    await agent?.stop();
    files?.cleanup();
    await bed?.cleanup();
  });

  it('is confirmed from the record the subscription returns, and the host keeps the new generation', async () => {
    const { profile, stateDir } = bed.host('h1');
    const commit = await bed.setVersion('h1', '24.05.8');
    const gen = profileGeneration(profile);
    const starter = connect(agent, bed.token, { reconnect: false });
    try {
      await starter.connect();
      await starter.startOp('cli-late-confirm', 'switch', { rev: commit }, true);
      await waitFor('the switch to wait for its confirmation', () => readOpInfo(stateDir, 'cli-late-confirm')?.confirmDeadline !== undefined, 60_000);
    } finally {
      starter.close();
    }
    const r = await runCli(['switch', 'h1', '--rev', commit, '--op-id', 'cli-late-confirm', '--yes', '--json', '--hosts-file', files.hostsFile, '--tokens-file', files.tokensFile]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /confirmed op cli-late-confirm over a new connection: host h1 is still reachable/);
    const op = readOpInfo(stateDir, 'cli-late-confirm')!;
    assert.equal(op.state, 'succeeded', op.error);
    assert.equal(op.result?.rolledBack, undefined);
    assert.equal(profileGeneration(profile), gen + 1, 'the new generation stays');
  });
});
