// The Fleet tree's node contract: each kind of node knows its TreeItem and its children.
import type * as vscode from 'vscode';

export interface FleetNode {
  /** Set on every node so commands can tell a tree invocation from a programmatic one. */
  readonly treeNode: true;
  getTreeItem(): vscode.TreeItem;
  getChildren(): FleetNode[] | Promise<FleetNode[]>;
}

/** ThemeIcon colour ids for a row level. */
export const LEVEL_COLOR: Record<'ok' | 'warn' | 'error' | 'unknown', string | undefined> = {
  ok: 'testing.iconPassed',
  warn: 'list.warningForeground',
  error: 'testing.iconFailed',
  unknown: 'descriptionForeground',
};
