// An op running on a host (started here or elsewhere), with an inline Cancel.
import * as vscode from 'vscode';
import type { OpInfo } from '../../protocol';
import { formatTime } from '../fleet/statusRows';
import type { FleetNode } from './node';

export class OpNode implements FleetNode {
  readonly treeNode = true as const;
  constructor(
    readonly host: string,
    readonly op: OpInfo,
  ) {}

  getTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(`Running: ${this.op.kind}`, vscode.TreeItemCollapsibleState.None);
    item.id = `${this.host}/op/${this.op.id}`;
    item.description = `since ${formatTime(this.op.startedAt)} · ${this.op.client.name}`;
    item.iconPath = new vscode.ThemeIcon('sync~spin');
    item.tooltip = `${this.op.kind} on ${this.host}\nop ${this.op.id}\nstarted ${this.op.startedAt} by ${this.op.client.name} (${this.op.client.auth})${this.op.confirmDeadline ? `\nwaiting for confirmation until ${this.op.confirmDeadline}` : ''}`;
    item.contextValue = 'op-running';
    item.command = { command: 'nixfleet.showLogs', title: 'Show Logs', arguments: [{ host: this.host, treeNode: true }] };
    return item;
  }

  getChildren(): FleetNode[] {
    return [];
  }
}
