// Context keys the walkthrough's steps complete on (package.json contributes.walkthroughs):
// how many hosts the Fleet view lists and how many answer. Set only when a count changes, as
// the fleet fires a change for every output line.
import * as vscode from 'vscode';
import type { Fleet } from '../fleet/fleet';

export function fleetContextKeys(fleet: Fleet): vscode.Disposable {
  let hosts = -1;
  let online = -1;
  const update = () => {
    const all = fleet.hosts();
    const h = all.length;
    const o = all.filter((s) => s.connection === 'online').length;
    if (h !== hosts) void vscode.commands.executeCommand('setContext', 'nixfleet.hostCount', (hosts = h));
    if (o !== online) void vscode.commands.executeCommand('setContext', 'nixfleet.onlineCount', (online = o));
  };
  update();
  return { dispose: fleet.onDidChange.on(update) };
}
