// "NixFleet: Delete Old Generations…" (src/commands/host/gc.ts) under node:test: a scripted
// editor in place of VS Code, the real Fleet against a real agent on the real-Nix test bed.
// What the user is asked (the age, validated; the list from the gc op's dry run, in a modal
// whose default button keeps everything), and what is then on disk.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { ScriptedEditor } from '../fixtures/scriptedEditor';
import { AGENT_JS, startAgent, waitFor, type RunningAgent } from './agent-harness';
import gcCommand from '../../src/commands/host/gc';
import type { FlowContext } from '../../src/flows/context';
import type { Fleet } from '../../src/fleet/fleet';
import { Settings } from '../../src/settings';
import type { OpInfo } from '../../protocol';
import { agentFleet, profileGeneration } from './fleet-harness';

const execFileP = promisify(execFile);

describe('Delete Old Generations with a scripted editor against a real agent', { skip: !existsSync(AGENT_JS) && 'dist/agent.js missing: run npm run build' }, () => {
  let bed: TestBed;
  let agent: RunningAgent;
  let fleet: Fleet;
  let profile: string;
  const present = () => [1, 2, 3].filter((n) => existsSync(`${profile}-${n}-link`));

  function context(editor: ScriptedEditor): FlowContext {
    return {
      fleet,
      editor,
      settings: new Settings(editor),
      logs: { show: () => {} },
      workspaceDir: bed.workstation,
      ensureStarted: () => fleet.start(),
      deploys: undefined as never,
      github: { access: async () => undefined, whoAmI: async () => 'tester@local' },
    };
  }
  const run = (editor: ScriptedEditor, arg: unknown = { host: 'h1' }) => gcCommand.run(context(editor) as never, arg) as Promise<OpInfo | undefined>;

  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    profile = bed.host('h1').profile;
    // Three generations; 1 and 2 are 45 days old, 3 (current) is new.
    for (const [i, version] of ['24.05.1', '24.05.2', '24.05.3'].entries()) {
      if (i > 0) await bed.setVersion('h1', version);
      await execFileP('nix-env', ['-p', profile, '--set', await bed.build('h1', bed.workstation)], { env: bed.env });
    }
    for (const n of [1, 2]) execFileSync('touch', ['-h', '-d', '45 days ago', `${profile}-${n}-link`]);
    agent = await startAgent(bed, 'h1');
    fleet = agentFleet('gc-test', async () => bed.token);
    fleet.configure([{ name: 'h1', address: agent.url, platform: 'nixos' }], [], []);
    await fleet.start();
  });

  after(async () => {
    fleet?.dispose();
    await agent?.stop();
    await bed?.cleanup();
  });

  it('the age box refuses what is not a number of days, in one sentence', async () => {
    const editor = new ScriptedEditor().answer('input', '0d');
    await assert.rejects(run(editor), /the input box "NixFleet: Delete Old Generations of h1" refuses "0d": "0d" is not an age in days: give a whole number of days from 1 to 36500, such as 30d$/);
    assert.deepEqual(editor.of('progress'), [], 'no op was started');
    assert.deepEqual(present(), [1, 2, 3]);
  });

  it('the modal lists what goes; its default button keeps everything', async () => {
    const editor = new ScriptedEditor().answer('input', '30d').answer('modal', (call) => call.actions![0]);
    assert.equal(await run(editor), undefined);
    const [modal] = editor.of('modal');
    assert.equal(modal!.text, 'Delete 2 generations of h1 older than 30 days? This cannot be undone.');
    assert.deepEqual(modal!.actions, ['Keep Them', 'Delete 2 generations']);
    assert.match(modal!.detail!, /^generation 1, \d{4}-\d\d-\d\d \d\d:\d\d UTC\ngeneration 2, \d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    // Only the dry run ran.
    assert.deepEqual(editor.of('progress').map((p) => p.text), ['Listing old generations on h1']);
    assert.deepEqual(present(), [1, 2, 3]);
    assert.deepEqual(editor.unused, []);
  });

  it('Delete: the op deletes exactly the listed generations, with progress, and says so; then there is nothing left to delete', async () => {
    const editor = new ScriptedEditor().answer('input', '30').answer('modal', 'Delete 2 generations');
    const op = await run(editor);
    assert.equal(op?.state, 'succeeded', op?.error);
    assert.deepEqual(op!.params, { olderThanDays: 30, generations: [1, 2] });
    assert.deepEqual(present(), [3]);
    assert.deepEqual(editor.of('progress').map((p) => p.text), ['Listing old generations on h1', 'Deleting old generations on h1']);
    await waitFor('the message', () => editor.of('info').length > 0);
    assert.equal(editor.of('info')[0]!.text, 'Deleted 2 generations of h1: 1, 2');

    const again = new ScriptedEditor();
    await run(again, { host: 'h1', olderThanDays: 30 });
    assert.deepEqual(again.of('modal'), [], 'nothing to confirm');
    await waitFor('the message', () => again.of('info').length > 0);
    assert.equal(again.of('info')[0]!.text, 'Nothing to delete on h1: no generation is older than 30 days, besides the current and the last known working one');
  });
});
