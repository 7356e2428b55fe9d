// One status row under a host (a drift, Agent, Git, Lock, System, Tests). A row with a fix runs it when clicked.
import * as vscode from 'vscode';
import type { StatusRow } from '../fleet/statusRows';
import { LEVEL_COLOR, type FleetNode } from './node';

const ICONS: Record<StatusRow['kind'], string> = { drift: 'warning', agent: 'plug', git: 'git-branch', lock: 'lock', system: 'server-process', tests: 'beaker' };
const LEVEL_ICONS: Record<StatusRow['level'], string> = { ok: 'pass', warn: 'warning', error: 'error', unknown: 'circle-outline' };

export class StatusRowNode implements FleetNode {
  readonly treeNode = true as const;
  constructor(
    readonly host: string,
    readonly row: StatusRow,
  ) {}

  getTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(this.row.label, vscode.TreeItemCollapsibleState.None);
    item.id = `${this.host}/status/${this.row.kind}${this.row.drift ? `/${this.row.drift}` : ''}`;
    item.description = this.row.value;
    const icon = this.row.level === 'ok' || this.row.level === 'unknown' ? ICONS[this.row.kind] : LEVEL_ICONS[this.row.level];
    item.iconPath = new vscode.ThemeIcon(icon, LEVEL_COLOR[this.row.level] ? new vscode.ThemeColor(LEVEL_COLOR[this.row.level]!) : undefined);
    item.tooltip = new vscode.MarkdownString().appendText(`${this.row.label}: ${this.row.value}\n\n${this.row.tooltip}`);
    item.contextValue = `status-${this.row.kind}`;
    const fix = this.row.fix;
    if (fix) item.command = { command: fix.command, title: fix.title, arguments: [fix.args] };
    return item;
  }

  getChildren(): FleetNode[] {
    return [];
  }
}
