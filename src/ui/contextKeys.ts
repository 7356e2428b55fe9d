// Context keys the walkthrough's steps complete on (package.json contributes.walkthroughs):
// whether the workspace is a flake, the Fleet view lists a host, and one answers. Set only when
// a value changes, as the fleet fires a change for every output line. VS Code checks a step off
// when its `onContext:` expression turns true after the walkthrough is registered (one already
// true then never checks it), so the steps also complete on their commands and on onView.
import * as vscode from 'vscode';
import type { Fleet } from '../fleet/fleet';

interface Published {
  flake?: boolean;
  hosts?: boolean;
  online?: boolean;
}

const published = new WeakMap<Fleet, Published>();

async function set(key: string, value: unknown): Promise<void> {
  await vscode.commands.executeCommand('setContext', key, value);
}

function publish(fleet: Fleet): void {
  const p = published.get(fleet);
  if (!p) return;
  const all = fleet.hosts();
  const now = { flake: !!fleet.workspace?.hasFlake, hosts: all.length > 0, online: all.some((s) => s.connection === 'online') };
  if (now.flake !== p.flake) void set('nixfleet.workspaceHasFlake', (p.flake = now.flake));
  if (now.hosts !== p.hosts) void set('nixfleet.hasHosts', (p.hosts = now.hosts));
  if (now.online !== p.online) void set('nixfleet.hasOnlineHost', (p.online = now.online));
}

/**
 * Say every key again, each turning true from false, once the walkthrough is open: its steps
 * then see the change they complete on, even when the keys were already true as it registered
 * (at start-up, or after a window reload, the order is VS Code's).
 */
export async function republishContextKeys(fleet: Fleet): Promise<void> {
  const p = published.get(fleet);
  if (!p) return;
  const keys: [string, keyof Published][] = [['nixfleet.workspaceHasFlake', 'flake'], ['nixfleet.hasHosts', 'hosts'], ['nixfleet.hasOnlineHost', 'online']];
  for (const [key, field] of keys) {
    if (!p[field]) continue;
    await set(key, false);
    await set(key, true);
  }
}

export function fleetContextKeys(fleet: Fleet): vscode.Disposable {
  published.set(fleet, {});
  publish(fleet);
  const off = fleet.onDidChange.on(() => publish(fleet));
  return { dispose: () => (off(), published.delete(fleet)) };
}
