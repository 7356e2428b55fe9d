// The Fleet view: hosts at the top level, settings/discovery problems as message nodes.
// Refreshes are pushed by the fleet (agent events) and coalesced, never polled.
import * as vscode from 'vscode';
import type { Container } from '../container';
import { HostNode } from './hostNode';
import { MessageNode } from './messageNode';
import type { FleetNode } from './node';

export class FleetTreeProvider implements vscode.TreeDataProvider<FleetNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<FleetNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private timer: NodeJS.Timeout | undefined;
  private readonly off: () => void;

  constructor(private readonly c: Container) {
    this.off = c.fleet.onDidChange.on(() => this.queueRefresh());
  }

  /** Coalesce bursts of fleet changes (output, status pushes) into one tree refresh. */
  queueRefresh(delayMs = 80): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.changed.fire(undefined);
    }, delayMs);
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
    const nodes: FleetNode[] = [...problems, ...hosts.map((h) => new HostNode(h, this.c.fleet.workspace, this.c.trusted))];
    if (!this.c.trusted) nodes.unshift(new MessageNode('Read-only: the workspace is not trusted', 'warn', 'Commands that change hosts are disabled and the flake is not evaluated. Trust the workspace to enable them.', { command: 'workbench.trust.manage', title: 'Manage Workspace Trust' }));
    return nodes;
  }

  dispose(): void {
    this.off();
    if (this.timer) clearTimeout(this.timer);
    this.changed.dispose();
  }
}
