// A host: its status rows and its generations. contextValue host-online / host-offline /
// host-noagent keys the context menus (package.json menus.view/item/context).
import * as vscode from 'vscode';
import type { HostSnapshot } from '../fleet/hostSnapshot';
import { buildingText } from '../fleet/buildProgress';
import { hostDrift, worstLevel, type DriftKind } from '../fleet/drift';
import { statusRows } from '../fleet/statusRows';
import type { WorkspaceInfo } from '../fleet/workspace';
import { GenerationsNode } from './generationsNode';
import { hostTooltipMarkdown, PLATFORM_LABEL } from './hostTooltip';
import { MessageNode } from './messageNode';
import { OpNode } from './opNode';
import { LEVEL_COLOR, type FleetNode } from './node';
import { StatusRowNode } from './statusRowNode';

/** The host's icon says its worst drift; its colour, how bad. */
const DRIFT_ICON: Record<DriftKind, string> = {
  'op-failed': 'error',
  'tests-failed': 'testing-failed-icon',
  'not-running-profile': 'debug-disconnect',
  undone: 'history',
  'tests-not-run': 'beaker',
  checkout: 'git-compare',
  'system-commit': 'git-commit',
};
/** At most this many drifts in the description; the rows under the host list them all. */
const DESCRIBED_DRIFTS = 2;

export class HostNode implements FleetNode {
  readonly treeNode = true as const;
  constructor(
    public snapshot: HostSnapshot,
    public workspace: WorkspaceInfo | undefined,
    public trusted: boolean,
  ) {}

  /** The tree keeps one node per host and refreshes it in place (see FleetTreeProvider). */
  update(snapshot: HostSnapshot, workspace: WorkspaceInfo | undefined, trusted: boolean): void {
    this.snapshot = snapshot;
    this.workspace = workspace;
    this.trusted = trusted;
  }

  get host(): string {
    return this.snapshot.name;
  }

  /** Add Host from a flake host without an agent reads it, so it only asks for the address. */
  get platform(): string {
    return this.snapshot.platform;
  }

  getTreeItem(): vscode.TreeItem {
    const s = this.snapshot;
    const item = new vscode.TreeItem(s.name, vscode.TreeItemCollapsibleState.Collapsed);
    item.id = `${s.name}`;
    const busy = s.runningOps[0] ?? (s.status?.busy ? { kind: s.status.busy.kind } : undefined);
    const drifts = hostDrift(s, this.workspace);
    const level = worstLevel(drifts);
    const state =
      s.connection === 'unconfigured' ? 'no agent configured'
        : s.connection === 'online' ? (busy ? (s.building ? buildingText(s.building.progress) : `${busy.kind} running`) : 'online')
          : s.connection === 'connecting' ? 'connecting…' : 'offline';
    const driftText = drifts.length
      ? ` · ${drifts.slice(0, DESCRIBED_DRIFTS).map((d) => d.short).join(', ')}${drifts.length > DESCRIBED_DRIFTS ? ` +${drifts.length - DESCRIBED_DRIFTS}` : ''}`
      : '';
    // State and drift first: a narrow sidebar cuts the end of the description, and the platform is the least news.
    item.description = `${state}${driftText}${s.status?.currentGeneration ? ` · gen ${s.status.currentGeneration}` : ''} · ${PLATFORM_LABEL[s.platform]}`;
    item.iconPath =
      s.connection === 'online'
        ? busy
          ? new vscode.ThemeIcon('sync~spin')
          : new vscode.ThemeIcon(drifts[0] ? DRIFT_ICON[drifts[0].kind] : 'vm-active', new vscode.ThemeColor(LEVEL_COLOR[level]!))
        : s.connection === 'unconfigured'
          ? new vscode.ThemeIcon('vm-outline', new vscode.ThemeColor(LEVEL_COLOR.unknown!))
          : new vscode.ThemeIcon('vm-outline', new vscode.ThemeColor(LEVEL_COLOR.error!));
    item.tooltip = new vscode.MarkdownString(hostTooltipMarkdown(s, this.trusted, drifts));
    item.contextValue = s.connection === 'unconfigured' ? 'host-noagent' : s.connection === 'online' ? 'host-online' : 'host-offline';
    return item;
  }

  getChildren(): FleetNode[] {
    const s = this.snapshot;
    const rows = statusRows(s, this.workspace).map((r) => new StatusRowNode(s.name, r));
    if (s.connection === 'unconfigured') {
      return [
        ...rows,
        new MessageNode('Add Host… (give its agent\'s address)', 'info', `Add ${s.name} to nixfleet.hosts`, {
          command: 'nixfleet.addHost',
          title: 'Add Host',
          arguments: [{ host: s.name, platform: s.platform, treeNode: true }],
        }),
      ];
    }
    if (s.problem && s.connection === 'online') rows.push(new StatusRowNode(s.name, { kind: 'agent', label: 'Problem', value: s.problem, level: 'warn', tooltip: s.problem }));
    const ops = s.connection === 'online' ? s.runningOps.map((op) => new OpNode(s.name, op)) : [];
    // A host never reached has no generations to show; its Agent row says why.
    if (!s.generations && s.connection !== 'online') return rows;
    return [...ops, ...rows, new GenerationsNode(s)];
  }
}
