// The Fleet view: hosts at the top level, settings/discovery problems as message nodes.
// Refreshes are pushed by the fleet (agent events) and coalesced, never polled. Only what
// changed is refreshed: VS Code forgets the rows under a refreshed element until it has fetched
// them again, and a command chosen from a row's context menu in that window gets no argument.
// Refreshing the whole tree whenever any host changed (an offline host's reconnect attempts,
// another host's output) made that window frequent on a busy machine.
import * as vscode from 'vscode';
import type { Container } from '../container';
import type { HostSnapshot } from '../fleet/hostSnapshot';
import { statusRows } from '../fleet/statusRows';
import type { WorkspaceInfo } from '../fleet/workspace';
import { HostNode } from './hostNode';
import { MessageNode } from './messageNode';
import type { FleetNode } from './node';

export class FleetTreeProvider implements vscode.TreeDataProvider<FleetNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<FleetNode | FleetNode[] | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private timer: NodeJS.Timeout | undefined;
  private readonly off: () => void;
  /** One node per host, kept across refreshes: VS Code refreshes an element it has seen. */
  private readonly hostNodes = new Map<string, { node: HostNode; key: string }>();
  /** What the top level was drawn from (problems, trust, host order); undefined before the first draw. */
  private topKey: string | undefined;

  constructor(private readonly c: Container) {
    this.off = c.fleet.onDidChange.on(() => this.queueRefresh());
  }

  /** Coalesce bursts of fleet changes (output, status pushes) into one tree refresh. */
  queueRefresh(delayMs = 80): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refreshChanged();
    }, delayMs);
  }

  /** Fire for the hosts whose rows would look different, or for the whole tree when the list did. */
  private refreshChanged(): void {
    if (this.topKey === undefined || this.topKey !== this.currentTopKey()) {
      this.changed.fire(undefined);
      return;
    }
    const changed: FleetNode[] = [];
    for (const h of this.c.fleet.hosts()) {
      const held = this.hostNodes.get(h.name);
      if (!held) {
        this.changed.fire(undefined);
        return;
      }
      const key = hostKey(h, this.c.fleet.workspace, this.c.trusted);
      if (key === held.key) continue;
      held.node.update(h, this.c.fleet.workspace, this.c.trusted);
      held.key = key;
      changed.push(held.node);
    }
    if (changed.length) this.changed.fire(changed);
  }

  private currentTopKey(): string {
    return JSON.stringify([this.c.trusted, this.c.fleet.problems, this.c.fleet.hosts().map((h) => h.name)]);
  }

  getTreeItem(node: FleetNode): vscode.TreeItem {
    return node.getTreeItem();
  }

  async getChildren(node?: FleetNode): Promise<FleetNode[]> {
    if (node) return node.getChildren();
    // The view is visible: now (not at activation) read the workspace and connect.
    void this.c.ensureStarted();
    const hosts = this.c.fleet.hosts();
    const problems = this.c.fleet.problems.map((p) => new MessageNode(p, 'error', `${p}\n\nFix it in the settings (nixfleet.hosts) or the workspace flake.`, { command: 'workbench.action.openWorkspaceSettings', title: 'Open Settings', arguments: ['nixfleet.hosts'] }));
    this.topKey = this.currentTopKey();
    const seen = new Set(hosts.map((h) => h.name));
    for (const name of this.hostNodes.keys()) if (!seen.has(name)) this.hostNodes.delete(name);
    const hostNodes = hosts.map((h) => {
      const key = hostKey(h, this.c.fleet.workspace, this.c.trusted);
      const held = this.hostNodes.get(h.name);
      if (held) {
        held.node.update(h, this.c.fleet.workspace, this.c.trusted);
        held.key = key;
        return held.node;
      }
      const node = new HostNode(h, this.c.fleet.workspace, this.c.trusted);
      this.hostNodes.set(h.name, { node, key });
      return node;
    });
    const nodes: FleetNode[] = [...problems, ...hostNodes];
    if (!this.c.trusted) nodes.unshift(new MessageNode('Read-only: the workspace is not trusted', 'warn', 'Commands that change hosts are disabled and the flake is not evaluated. Trust the workspace to enable them.', { command: 'workbench.trust.manage', title: 'Manage Workspace Trust' }));
    return nodes;
  }

  dispose(): void {
    this.hostNodes.clear();
    this.off();
    if (this.timer) clearTimeout(this.timer);
    this.changed.dispose();
  }
}

/**
 * Everything a host's rows are drawn from. `lastSeen` moves with every answer but is shown
 * only while the host is offline, so it counts only then. The status rows as drawn count too:
 * the Git row's "up to date" also depends on the time (a fetch older than an hour no longer is).
 */
function hostKey(h: HostSnapshot, workspace: WorkspaceInfo | undefined, trusted: boolean): string {
  const { lastSeen, ...rest } = h;
  return JSON.stringify([rest, h.connection === 'online' ? undefined : lastSeen, workspace, trusted, statusRows(h, workspace)]);
}
