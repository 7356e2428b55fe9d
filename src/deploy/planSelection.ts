// The plan view's model (Plan Deploy): the fleet's plan grouped by change set (groupPlan), each
// host with what it would change and whether it can be deployed from here, and the hosts a
// deploy from the view takes from the user's ticks. Pure: the webview, the command and the
// tests share it; nothing the webview sends is used without passing through deployHostsFromPlan.
import { formatBytes, printable } from '../../protocol';
import { groupPlan, type FleetPlan, type PlanGroup } from './fleetPlan';

export interface PlanViewHost {
  host: string;
  /** Only hosts with a change can be ticked: "no change" hosts are skipped, failed ones cannot deploy. */
  selectable: boolean;
  selected: boolean;
  /** "+12.0 KiB", "no change: skipped", or the plan's error. */
  note: string;
}

export interface PlanViewGroup extends PlanGroup {
  rows: PlanViewHost[];
  /** Per unit action, the units (empty actions left out); undefined when not known. */
  unitLines?: { action: string; units: string[] }[];
}

export interface PlanViewModel {
  id: string;
  commit: string;
  madeAt: string;
  groups: PlanViewGroup[];
  counts: { change: number; noChange: number; failed: number; selected: number };
  /** "3 hosts change, 1 no change, 1 plan failed". */
  headline: string;
}

const signedBytes = (b: number) => `${b >= 0 ? '+' : ''}${formatBytes(b)}`;

/** The hosts ticked by default: every host whose plan has a change. */
export function defaultSelection(plan: FleetPlan): string[] {
  return plan.hosts.filter((h) => h.state === 'planned' && h.plan && !h.plan.noChange).map((h) => h.host);
}

export function planViewModel(plan: FleetPlan, selected: readonly string[] = defaultSelection(plan)): PlanViewModel {
  const ticked = new Set(selected);
  const byHost = new Map(plan.hosts.map((h) => [h.host, h]));
  const groups = groupPlan(plan).map((g): PlanViewGroup => {
    const rows = g.hosts.map((host): PlanViewHost => {
      const p = byHost.get(host)!;
      if (g.kind === 'failed') return { host, selectable: false, selected: false, note: p.error ?? 'the plan failed; see the host\'s log' };
      if (g.kind === 'no-change') return { host, selectable: false, selected: false, note: 'no change: skipped' };
      const bytes = p.plan?.closureBytesChange;
      return { host, selectable: true, selected: ticked.has(host), note: bytes === undefined ? 'closure size change not known' : `closure ${signedBytes(bytes)}` };
    });
    const unitLines = g.units ? (['stop', 'restart', 'reload', 'start'] as const).filter((k) => g.units![k].length).map((k) => ({ action: k, units: g.units![k] })) : undefined;
    return { ...g, rows, ...(unitLines ? { unitLines } : {}) };
  });
  const count = (k: PlanGroup['kind']) => groups.filter((g) => g.kind === k).reduce((n, g) => n + g.hosts.length, 0);
  const counts = { change: count('change'), noChange: count('no-change'), failed: count('failed'), selected: groups.flatMap((g) => g.rows).filter((r) => r.selected).length };
  const parts = [`${counts.change} host${counts.change === 1 ? '' : 's'} change${counts.change === 1 ? 's' : ''}`];
  if (counts.noChange) parts.push(`${counts.noChange} no change`);
  if (counts.failed) parts.push(`${counts.failed} plan${counts.failed === 1 ? '' : 's'} failed`);
  return { id: plan.id, commit: plan.commit, madeAt: plan.madeAt, groups, counts, headline: `Plan of commit ${plan.commit.slice(0, 12)}: ${parts.join(', ')}` };
}

export class PlanSelectionError extends Error {
  override name = 'PlanSelectionError';
}

/**
 * The hosts a deploy from the plan takes: the ticked hosts, each of which must be in the
 * plan with a change (a "no change" host is skipped anyway; a failed plan cannot deploy).
 * Order follows the plan's. Throws, naming the host, on anything else.
 */
export function deployHostsFromPlan(plan: FleetPlan, selected: readonly string[]): string[] {
  if (selected.length === 0) throw new PlanSelectionError('no host is ticked: tick at least one host with a change to deploy');
  const seen = new Set<string>();
  for (const name of selected) {
    if (seen.has(name)) throw new PlanSelectionError(`host ${printable(name)} was ticked twice`);
    seen.add(name);
    const h = plan.hosts.find((x) => x.host === name);
    if (!h) throw new PlanSelectionError(`host ${printable(name)} is not in this plan: plan again with it`);
    if (h.state !== 'planned' || !h.plan) throw new PlanSelectionError(`host ${name} has no plan (${h.error ?? 'its build failed'}): fix it and plan again, or leave it out`);
    if (h.plan.noChange) throw new PlanSelectionError(`host ${name} has no change in this plan: there is nothing to deploy to it`);
  }
  return plan.hosts.filter((h) => seen.has(h.host)).map((h) => h.host);
}

/** The plan narrowed to `hosts`, as the rollout takes it (it skips the plan step). */
export function planFor(plan: FleetPlan, hosts: readonly string[]): FleetPlan {
  const keep = new Set(hosts);
  return { ...plan, hosts: plan.hosts.filter((h) => keep.has(h.host)) };
}
