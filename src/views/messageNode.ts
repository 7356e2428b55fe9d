// A line of text in the tree: a settings or discovery error, or why a host has no data.
import * as vscode from 'vscode';
import { LEVEL_COLOR, type FleetNode } from './node';

export class MessageNode implements FleetNode {
  readonly treeNode = true as const;
  constructor(
    readonly text: string,
    readonly level: 'info' | 'warn' | 'error' = 'info',
    readonly tooltip?: string,
    readonly command?: vscode.Command,
  ) {}

  getTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(this.text, vscode.TreeItemCollapsibleState.None);
    item.iconPath =
      this.level === 'error'
        ? new vscode.ThemeIcon('error', new vscode.ThemeColor(LEVEL_COLOR.error!))
        : this.level === 'warn'
          ? new vscode.ThemeIcon('warning', new vscode.ThemeColor(LEVEL_COLOR.warn!))
          : new vscode.ThemeIcon('info');
    item.tooltip = this.tooltip ?? this.text;
    item.contextValue = 'message';
    item.command = this.command;
    return item;
  }

  getChildren(): FleetNode[] {
    return [];
  }
}
