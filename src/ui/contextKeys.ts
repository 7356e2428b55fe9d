// Context keys the walkthrough's steps complete on (package.json contributes.walkthroughs):
// whether the workspace is a flake, the Fleet view lists a host, and one answers. Set only when
// a value changes, as the fleet fires a change for every output line.
//
// Why the steps are also marked done here: VS Code creates its walkthrough service only when a
// walkthrough page first opens (or a welcome command runs), and a step whose `onContext:`
// expression is already true as the service registers the walkthrough is recorded as seen and
// never checked in that session (code-server 4.100's workbench: `onContext` is added to the
// session's events without progressing the step). A user who opens Get Started after the
// extension found the flake and its hosts would never see those steps checked. So each key that
// turns true marks its step complete through the workbench's own "Mark Step Complete" command
// (welcome.markStepComplete), which stores it in the walkthrough's progress even before the page
// registered the walkthrough; the onContext events stay for keys that turn true while it is open.
import * as vscode from 'vscode';
import type { Fleet } from '../fleet/fleet';

/** The walkthrough's id in package.json. */
export const WALKTHROUGH_ID = 'nixfleet.gettingStarted';

type Field = 'flake' | 'hosts' | 'online';
type Published = Partial<Record<Field, boolean>>;

/** Each key, what it says, and the walkthrough step it completes. */
const KEYS: readonly { key: string; field: Field; step: string }[] = [
  { key: 'nixfleet.workspaceHasFlake', field: 'flake', step: 'openNixcfg' },
  { key: 'nixfleet.hasHosts', field: 'hosts', step: 'addHosts' },
  { key: 'nixfleet.hasOnlineHost', field: 'online', step: 'connect' },
];

const published = new WeakMap<Fleet, { extensionId: string; values: Published }>();

async function markStepDone(extensionId: string, step: string): Promise<void> {
  // The command throws when the walkthrough is not registered yet, after it stored the progress.
  await Promise.resolve(vscode.commands.executeCommand('welcome.markStepComplete', `${extensionId}#${WALKTHROUGH_ID}#${step}`)).catch(() => undefined);
}

function publish(fleet: Fleet): void {
  const p = published.get(fleet);
  if (!p) return;
  const all = fleet.hosts();
  const now: Record<Field, boolean> = { flake: !!fleet.workspace?.hasFlake, hosts: all.length > 0, online: all.some((s) => s.connection === 'online') };
  for (const { key, field, step } of KEYS) {
    if (now[field] === p.values[field]) continue;
    p.values[field] = now[field];
    void vscode.commands.executeCommand('setContext', key, now[field]);
    if (now[field]) void markStepDone(p.extensionId, step);
  }
}

/** Mark the steps whose state holds once more, as Get Started opens the walkthrough. */
export async function markDoneSteps(fleet: Fleet): Promise<void> {
  const p = published.get(fleet);
  if (!p) return;
  await Promise.all(KEYS.filter(({ field }) => p.values[field]).map(({ step }) => markStepDone(p.extensionId, step)));
}

export function fleetContextKeys(fleet: Fleet, extensionId: string): vscode.Disposable {
  published.set(fleet, { extensionId, values: {} });
  publish(fleet);
  const off = fleet.onDidChange.on(() => publish(fleet));
  return { dispose: () => (off(), published.delete(fleet)) };
}
