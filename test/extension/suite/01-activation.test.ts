import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { api } from './helpers';

describe('activation and contributions', () => {
  it('activation is cheap: nothing is evaluated or connected before the view is shown or a command runs', async function () {
    const a = await api();
    if (a.view.visible) this.skip(); // the workbench restored the view: starting is then expected
    assert.equal(a.container.fleet.isStarted, false);
    assert.ok(a.container.fleet.hosts().every((h) => h.connection !== 'online' && !h.status), 'no agent was contacted');
    assert.equal(a.container.fleet.workspace, undefined, 'the workspace (git) was not read');
  });

  it('activates and registers every command it contributes', async () => {
    const a = await api();
    assert.ok(a.container, 'activate() returns the container');
    const ext = vscode.extensions.all.find((e) => e.packageJSON?.name === 'nixfleet')!;
    const contributed: string[] = ext.packageJSON.contributes.commands.map((c: { command: string }) => c.command);
    const registered = new Set(await vscode.commands.getCommands(true));
    // Deploy and Revert PR are registered by src/deploy's command files when present.
    const missing = contributed.filter((id) => !registered.has(id));
    assert.deepEqual(missing, [], `contributed but not registered: ${missing.join(', ')}`);
  });

  it('declares the Fleet view and limited support for untrusted workspaces', () => {
    const ext = vscode.extensions.all.find((e) => e.packageJSON?.name === 'nixfleet')!;
    const pkg = ext.packageJSON;
    assert.equal(pkg.contributes.views.nixfleet[0].id, 'nixfleet.fleet');
    assert.equal(pkg.capabilities.untrustedWorkspaces.supported, 'limited');
    assert.ok(pkg.activationEvents.includes('onView:nixfleet.fleet'));
    for (const c of pkg.contributes.commands) assert.equal(c.category, 'NixFleet', c.command);
  });
});
