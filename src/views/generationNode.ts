// One system generation of a host: number, date, commit, tests; current and last known
// working marked. Its context menu offers "Rollback to This Generation".
import * as vscode from 'vscode';
import type { Generation } from '../../protocol';
import { describeGeneration, isOld, marks } from '../fleet/generations';
import { formatTime } from '../fleet/statusRows';
import { LEVEL_COLOR, type FleetNode } from './node';

export class GenerationNode implements FleetNode {
  readonly treeNode = true as const;
  constructor(
    readonly host: string,
    readonly gen: Generation,
  ) {}

  /** Commands read these when run from the tree. */
  get generation(): number {
    return this.gen.generation;
  }

  getTreeItem(): vscode.TreeItem {
    const g = this.gen;
    const m = marks(g);
    const item = new vscode.TreeItem(`Generation ${g.generation}${m.length ? ` (${m.join(', ')})` : ''}`, vscode.TreeItemCollapsibleState.None);
    item.id = `${this.host}/generation/${g.generation}`;
    item.description = describeGeneration(g);
    const color = g.checks ? (g.checks.passed ? LEVEL_COLOR.ok : LEVEL_COLOR.error) : undefined;
    item.iconPath = g.current
      ? new vscode.ThemeIcon('star-full', new vscode.ThemeColor(color ?? 'charts.blue'))
      : g.lastKnownWorking
        ? new vscode.ThemeIcon('verified-filled', new vscode.ThemeColor(LEVEL_COLOR.ok!))
        : !g.present
          ? new vscode.ThemeIcon('trash', new vscode.ThemeColor(LEVEL_COLOR.unknown!))
          : new vscode.ThemeIcon('history', color ? new vscode.ThemeColor(color) : undefined);
    const tip = new vscode.MarkdownString();
    tip.appendMarkdown(`**Generation ${g.generation}** of ${this.host}\n\n`);
    tip.appendText(`Created ${formatTime(g.createdAt)}${isOld(g) ? ' (older than 30 days)' : ''}\n`);
    tip.appendText(`Commit: ${g.revision ?? 'not recorded'}\n`);
    if (g.systemVersion) tip.appendText(`System version: ${g.systemVersion}\n`);
    tip.appendText(`Tests: ${g.checks ? `${g.checks.passed ? 'passed' : 'failed'} at ${formatTime(g.checks.at)}` : 'not run'}\n`);
    if (g.checks?.detail) tip.appendCodeblock(g.checks.detail, 'text');
    tip.appendText(`Store path: ${g.path}${g.present ? '' : ' (garbage-collected)'}`);
    item.tooltip = tip;
    item.contextValue = g.current ? 'generation-current' : g.present ? 'generation' : 'generation-collected';
    return item;
  }

  getChildren(): FleetNode[] {
    return [];
  }
}
