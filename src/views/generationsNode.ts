// The "Generations" group under a host, newest first.
import * as vscode from 'vscode';
import { newestFirst } from '../fleet/generations';
import type { HostSnapshot } from '../fleet/hostSnapshot';
import { GenerationNode } from './generationNode';
import { MessageNode } from './messageNode';
import type { FleetNode } from './node';

export class GenerationsNode implements FleetNode {
  readonly treeNode = true as const;
  constructor(readonly snapshot: HostSnapshot) {}

  get host(): string {
    return this.snapshot.name;
  }

  getTreeItem(): vscode.TreeItem {
    const gens = this.snapshot.generations ?? [];
    const item = new vscode.TreeItem('Generations', vscode.TreeItemCollapsibleState.Collapsed);
    item.id = `${this.host}/generations`;
    const current = gens.find((g) => g.current);
    item.description = gens.length ? `${gens.length}${current ? `, current ${current.generation}` : ''}` : '';
    item.iconPath = new vscode.ThemeIcon('layers');
    item.contextValue = 'generations';
    return item;
  }

  getChildren(): FleetNode[] {
    const gens = this.snapshot.generations;
    if (!gens) return [new MessageNode(this.snapshot.connection === 'online' ? 'loading…' : 'not known yet: the agent has not answered')];
    if (!gens.length) return [new MessageNode('no generations in the profile yet')];
    return newestFirst(gens).map((g) => new GenerationNode(this.host, g));
  }
}
