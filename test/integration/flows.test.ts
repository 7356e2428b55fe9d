// The extension's flows (src/flows) under node:test: a scripted editor (test/fixtures/
// scriptedEditor.ts) in place of VS Code, the real Fleet and DeployService against real agents
// (dist/agent.js) on the real-Nix test bed. What the user is asked, what the flow then does on
// the host (profile links on disk) and what it says afterwards.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { ScriptedEditor } from '../fixtures/scriptedEditor';
import { AGENT_JS, startAgent, type RunningAgent } from './agent-harness';
import { git } from './deploy-fixtures';
import { fleetAgents } from '../../src/deploy/fleetAgents';
import { DeployService } from '../../src/deploy/service';
import { CancelledByUser } from '../../src/editor/editor';
import type { FlowContext } from '../../src/flows/context';
import { offerUndo, rollbackDeployFlow } from '../../src/flows/deployUndo';
import { chooseDeploy } from '../../src/flows/deployTarget';
import { showError } from '../../src/flows/fixes';
import { hostOpFlow } from '../../src/flows/hostOp';
import { rebuildSmartFlow } from '../../src/flows/rebuildSmart';
import { rollbackFlow } from '../../src/flows/rollback';
import type { Fleet } from '../../src/fleet/fleet';
import { Settings } from '../../src/settings';
import { agentFleet, profileGeneration } from './fleet-harness';

const execFileP = promisify(execFile);


describe('flows with a scripted editor against real agents', { skip: !existsSync(AGENT_JS) && 'dist/agent.js missing: run npm run build' }, () => {
  let bed: TestBed;
  let agent: RunningAgent;
  let fleet: Fleet;
  let auditDir: string;
  let unhealthy: string;
  const shownLogs: string[] = [];

  /** A FlowContext as the extension's Container gives it, with `editor` in place of VS Code. */
  function context(editor: ScriptedEditor, deploys = new DeployService({ agents: fleetAgents(fleet), auditFile: path.join(auditDir, `audit-${Date.now()}.jsonl`) })): FlowContext {
    return {
      fleet,
      editor,
      settings: new Settings(editor),
      logs: { show: (host) => void shownLogs.push(host) },
      workspaceDir: bed.workstation,
      ensureStarted: () => fleet.start(),
      deploys,
      // The bed's origin is a plain git remote: no GitHub, the local user acts.
      github: { access: async () => undefined, whoAmI: async () => 'tester@local' },
    };
  }

  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    // Two generations from two real commits, so there is something to roll back to.
    for (const [i, version] of ['24.05.1', '24.05.2'].entries()) {
      if (i > 0) await bed.setVersion('h1', version);
      const storePath = await bed.build('h1', bed.workstation);
      await execFileP('nix-env', ['-p', bed.host('h1').profile, '--set', storePath], { env: bed.env });
    }
    await execFileP('git', ['pull', '-q', '--ff-only', 'origin', 'main'], { cwd: bed.host('h1').checkout, env: bed.env });
    // A real health check: fails while the marker file exists.
    unhealthy = path.join(bed.host('h1').dir, 'unhealthy');
    agent = await startAgent(bed, 'h1', { overrides: { healthChecks: [['/bin/sh', '-c', `if [ -e '${unhealthy}' ]; then echo 'web: 503' >&2; exit 1; fi`]] } });
    auditDir = mkdtempSync(path.join(tmpdir(), 'nixfleet-flows-'));
    fleet = agentFleet('flows-test', async () => bed.token);
    fleet.configure([{ name: 'h1', address: agent.url, platform: 'nixos' }], [], []);
    await fleet.start();
  });

  after(async () => {
    fleet?.dispose();
    await agent?.stop();
    if (auditDir) rmSync(auditDir, { recursive: true, force: true });
    await bed?.cleanup();
  });

  it('host rollback: declining the confirmation changes nothing', async () => {
    const before = profileGeneration(bed.host('h1').profile);
    const editor = new ScriptedEditor().answer('pick', 'Generation 1').answer('modal', undefined);
    assert.equal(await rollbackFlow(context(editor), 'h1', undefined, false), undefined);
    assert.equal(profileGeneration(bed.host('h1').profile), before);
    assert.deepEqual(editor.of('progress'), [], 'no op was started');
    assert.deepEqual(editor.unused, []);
  });

  it('host rollback: the picker preselects the previous generation; the confirmation names FROM and TO; the op runs; the outcome is said', async () => {
    const before = profileGeneration(bed.host('h1').profile);
    const editor = new ScriptedEditor({ 'nixfleet.magicRollback': false })
      .answer('pick', (call) => {
        assert.match(call.text, new RegExp(`Rollback h1 \\(now on generation ${before}\\)`));
        assert.ok(!call.items!.some((i) => i.label.endsWith(`Generation ${before}`)), 'the current generation is not offered');
        assert.match(call.active!.label, new RegExp(`Generation ${before - 1}$`));
        return call.active;
      })
      .answer('modal', 'Roll Back')
      .answer('info', 'Show Logs');
    shownLogs.length = 0;
    const op = await rollbackFlow(context(editor), 'h1', undefined, false);
    assert.equal(op?.state, 'succeeded', op?.error);
    assert.equal(profileGeneration(bed.host('h1').profile), before - 1);
    const [modal] = editor.of('modal');
    assert.equal(modal!.text, `Roll back h1 to generation ${before - 1}?`);
    // The first button is VS Code's default (Enter): the one that changes nothing.
    assert.deepEqual(modal!.actions, [`Keep Generation ${before}`, 'Roll Back']);
    assert.match(modal!.detail!, new RegExp(`^From: generation ${before}, .*\\nTo: generation ${before - 1}, `));
    assert.match(modal!.detail!, new RegExp(`Warning: the health checks never ran on generation ${before - 1}`));
    assert.equal(editor.of('progress')[0]!.text, `Rollback to generation ${before - 1} on h1`);
    await until(() => editor.of('info').length > 0);
    assert.equal(editor.of('info')[0]!.text, `Rolled back h1 to generation ${before - 1}`);
    assert.deepEqual(editor.of('info')[0]!.actions, ['Show Logs']);
    await until(() => shownLogs.length > 0);
    assert.deepEqual(shownLogs, ['h1'], 'Show Logs on the success message opens the host log');
  });

  it('host rollback to a NEWER generation says "Switch", before and after', async () => {
    const before = profileGeneration(bed.host('h1').profile);
    const editor = new ScriptedEditor({ 'nixfleet.magicRollback': false }).answer('modal', 'Switch');
    const op = await rollbackFlow(context(editor), 'h1', before + 1, false);
    assert.equal(op?.state, 'succeeded', op?.error);
    assert.equal(profileGeneration(bed.host('h1').profile), before + 1);
    assert.equal(editor.of('modal')[0]!.text, `Switch h1 to generation ${before + 1}?`);
    assert.deepEqual(editor.of('modal')[0]!.actions, [`Keep Generation ${before}`, 'Switch']);
    assert.match(editor.of('modal')[0]!.detail!, /\(newer than the current one\)/);
    assert.equal(editor.of('progress')[0]!.text, `Switch to generation ${before + 1} on h1`);
    await until(() => editor.of('info').length > 0);
    assert.equal(editor.of('info')[0]!.text, `Switched h1 to generation ${before + 1}`);
  });

  it('a failed op opens its host log by itself (nixfleet.showLogsOnFailure), and not when turned off', async () => {
    writeFileSync(unhealthy, '');
    try {
      for (const open of [true, false]) {
        shownLogs.length = 0;
        const editor = new ScriptedEditor({ 'nixfleet.showLogsOnFailure': open });
        const op = await hostOpFlow(context(editor), { host: 'h1' }, { title: 'Run Tests', kind: 'test', params: {} });
        assert.equal(op.state, 'failed');
        assert.deepEqual(shownLogs, open ? ['h1'] : []);
        await until(() => editor.of('error').length > 0);
        assert.match(editor.of('error')[0]!.text, /^Run Tests on h1 failed: /);
        assert.deepEqual(editor.of('error')[0]!.actions, ['Show Logs']);
      }
    } finally {
      rmSync(unhealthy, { force: true });
    }
  });

  it('errors offer the command that fixes them: an unknown host offers Add Host', async () => {
    const editor = new ScriptedEditor().answer('error', 'Add Host');
    const err = await hostOpFlow(context(editor), { host: 'nosuchhost' }, { title: 'Switch', kind: 'switch', params: {} }).catch((e: unknown) => e);
    assert.ok(err instanceof Error && /not in nixfleet.hosts/.test(err.message));
    assert.equal(await showError(context(editor), 'NixFleet: Switch: ' + (err as Error).message, err), 'Add Host');
    assert.deepEqual(editor.of('error')[0]!.actions, ['Add Host']);
    assert.deepEqual(editor.of('command').map((x) => x.text), ['nixfleet.addHost']);
    // Deploy to a host without an agent: the same button.
    const deploying = new ScriptedEditor().answer('error', 'Add Host');
    const derr = await chooseDeploy(context(deploying), { commit: 'a'.repeat(40), hosts: ['nosuchhost'] }).catch((e: unknown) => e);
    assert.ok(derr instanceof Error && /host nosuchhost has no agent configured/.test(derr.message), String(derr));
    assert.equal(await showError(context(deploying), 'NixFleet: Deploy: ' + (derr as Error).message, derr), 'Add Host');
    assert.deepEqual(deploying.of('command').map((x) => x.text), ['nixfleet.addHost']);
  });

  it('deploy undo: asked first (or refused without a prompt), then every host that switched goes back', async () => {
    const commit = await bed.setVersion('h1', '24.05.3');
    const deploys = new DeployService({ agents: fleetAgents(fleet), auditFile: path.join(auditDir, 'deploy-audit.jsonl') });
    const before = profileGeneration(bed.host('h1').profile);
    const record = await deploys.deploy({ target: { commit }, hosts: ['h1'], who: 'tester@local' });
    assert.equal(record.state, 'succeeded');
    const deployed = profileGeneration(bed.host('h1').profile);
    assert.notEqual(deployed, before);

    await assert.rejects(rollbackDeployFlow(context(new ScriptedEditor(), deploys), record, { interactive: false }), /pass confirm: true/);
    const declining = new ScriptedEditor().answer('modal', undefined);
    await assert.rejects(rollbackDeployFlow(context(declining, deploys), record, { interactive: true }), CancelledByUser);
    assert.equal(profileGeneration(bed.host('h1').profile), deployed);

    const editor = new ScriptedEditor({ 'nixfleet.magicRollback': false }).answer('modal', 'Roll Back');
    const after = await rollbackDeployFlow(context(editor, deploys), record, { interactive: true });
    assert.equal(after.hosts[0]!.outcome, 'rolled-back');
    assert.equal(profileGeneration(bed.host('h1').profile), before);
    assert.match(editor.of('modal')[0]!.text, /^Roll back 1 host to the generation they had before the deploy of /);
    assert.match(editor.of('modal')[0]!.detail!, /h1/);
    assert.equal(editor.of('progress')[0]!.text, 'NixFleet: rolling back 1 host(s)');
    await until(() => editor.of('info').length > 0);
    assert.equal(editor.of('info')[0]!.text, 'NixFleet: Rolled back 1 host(s) to their pre-deploy generations.');

    // The failure notification's "View Logs" opens the log of the host that stopped the deploy.
    const viewing = new ScriptedEditor().answer('error', 'View Logs');
    shownLogs.length = 0;
    await offerUndo(context(viewing, deploys), { ...record, state: 'failed', stoppedBy: 'h1' });
    // h1 is rolled back already: only the revert is left to offer, no second rollback.
    assert.deepEqual(viewing.of('error')[0]!.actions, ['Revert Commit', 'View Logs', 'Dismiss']);
    assert.deepEqual(shownLogs, ['h1']);
  });

  it('Rebuild Smart from the UI: a failed run offers Roll Back and Show Logs; Roll Back restores what the run started from', async () => {
    await bed.setVersion('h1', '24.05.4');
    const before = profileGeneration(bed.host('h1').profile);
    const headBefore = await git(bed.host('h1').checkout, 'rev-parse', 'HEAD');
    writeFileSync(unhealthy, '');
    const editor = new ScriptedEditor({
      'nixfleet.rebuildSmart.autoCommit': false,
      'nixfleet.rebuildSmart.autoPush': false,
      'nixfleet.rebuildSmart.syncDotfiles': false,
    }).answer('error', (call) => {
      assert.deepEqual(call.actions, ['Roll Back', 'Show Logs']);
      assert.match(call.text, /^Rebuild Smart on h1 failed: /);
      rmSync(unhealthy);
      return 'Roll Back';
    });
    const op = await rebuildSmartFlow(context(editor), { host: 'h1', treeNode: true });
    assert.equal(op.kind, 'rebuild-smart');
    assert.equal(op.params.rollback, true, 'the op returned is the rollback');
    assert.equal(op.state, 'succeeded', op.error);
    assert.equal(profileGeneration(bed.host('h1').profile), before, 'back on the generation the run started from');
    assert.equal(await git(bed.host('h1').checkout, 'rev-parse', 'HEAD'), headBefore, 'and on its commit');
    assert.deepEqual(editor.of('progress').map((p) => p.text), ['Rebuild Smart on h1', 'Rebuild Smart rollback on h1']);
    assert.deepEqual(editor.unused, []);
  });

  it('Rebuild Smart from the UI: a dry run\'s plan is shown and asked for before it commits and pushes; declined, nothing changes; run, its phases are the progress', async () => {
    const h = bed.host('h1');
    // Up to date with origin, with a local edit: what the run builds, commits and pushes.
    await execFileP('git', ['pull', '-q', '--ff-only', 'origin', 'main'], { cwd: h.checkout, env: bed.env });
    writeFileSync(path.join(h.checkout, 'hosts/h1/version'), '24.05.5\n');
    const settings = { 'nixfleet.rebuildSmart.syncDotfiles': false, 'nixfleet.magicRollback': false };
    const headBefore = await git(h.checkout, 'rev-parse', 'HEAD');
    const genBefore = profileGeneration(h.profile);
    const originBefore = await git(bed.origin, 'rev-parse', 'main');

    const declining = new ScriptedEditor(settings).answer('modal', (call) => {
      assert.equal(call.text, 'Rebuild Smart on h1: rebuild, then commit and push from its checkout?');
      assert.deepEqual(call.actions, ['Not Now', 'Run Rebuild Smart']);
      assert.match(call.detail!, /^Phases \(\d+\):\n1\. Prepare/);
      assert.match(call.detail!, /\d+\. Rebuild/);
      assert.match(call.detail!, /Commit & push: would commit 1 changed file\(s\) \(hosts\/h1\/version\) and what the run changes, would push main to origin\/main/);
      assert.match(call.detail!, /Skipped: Dotfiles/);
      assert.match(call.detail!, /Will run:\n(.*\n)*  git push origin HEAD:refs\/heads\/main/);
      // The commit on one line, its message's subject only: the body does not spill over the dialog.
      assert.match(call.detail!, /\n  git commit --message 'h1: rebuild-smart [^\n]* …'\n/);
      return undefined;
    });
    await assert.rejects(rebuildSmartFlow(context(declining), { host: 'h1', treeNode: true }), CancelledByUser);
    assert.deepEqual(declining.of('progress').map((p) => p.text), ['Rebuild Smart: planning on h1'], 'only the dry run ran');
    assert.equal(await git(h.checkout, 'rev-parse', 'HEAD'), headBefore);
    assert.equal(profileGeneration(h.profile), genBefore);
    assert.equal(await git(bed.origin, 'rev-parse', 'main'), originBefore);

    const editor = new ScriptedEditor(settings).answer('modal', 'Run Rebuild Smart');
    const op = await rebuildSmartFlow(context(editor), { host: 'h1', treeNode: true });
    assert.equal(op.state, 'succeeded', op.error);
    const run = editor.of('progress')[1]!;
    assert.equal(run.text, 'Rebuild Smart on h1');
    const phases = run.reports!.filter((r) => r.startsWith('phase '));
    const n = Number(/of (\d+):/.exec(phases[0] ?? '')?.[1]);
    assert.equal(phases[0], `phase 1 of ${n}: Prepare`);
    assert.ok(phases.includes(`phase ${n} of ${n}: Commit & push`), phases.join(' | '));
    assert.ok(phases.some((p) => /^phase \d+ of \d+: Rebuild$/.test(p)), phases.join(' | '));
    assert.ok(profileGeneration(h.profile) > genBefore, 'rebuilt');
    const head = await git(h.checkout, 'rev-parse', 'HEAD');
    assert.notEqual(head, headBefore, 'committed');
    assert.equal(await git(bed.origin, 'rev-parse', 'main'), head, 'and pushed');
    await until(() => editor.of('info').length > 0);
    assert.match(editor.of('info')[0]!.text, /^Rebuild Smart finished on h1: generation \d+/);
    assert.deepEqual(editor.of('info')[0]!.actions, ['Show Logs']);
  });
});

async function until(fn: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
