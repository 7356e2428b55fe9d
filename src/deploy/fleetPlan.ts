// The fleet's plan: every chosen host builds the target without activating (the agent's
// `build` op, in parallel) and says what it would change; hosts with the same change set
// are grouped so that fifty hosts read as a handful of lines.
import { formatBytes, opResultOf, type BuildProgress, type HostPlan, type PackageChange } from '../../protocol';
import { deployOpId, eachLimited, MAX_PARALLELISM } from './plan';
import type { DeployAgents } from './types';

export interface PlannedHost {
  host: string;
  state: 'planned' | 'failed';
  plan?: HostPlan;
  /** The profile's current generation when the plan was made. */
  generationBefore?: number;
  error?: string;
  opId: string;
}

export interface FleetPlan {
  id: string;
  commit: string;
  madeAt: string;
  hosts: PlannedHost[];
}

export interface BuildFleetPlanOptions {
  agents: DeployAgents;
  /** The deploy (or plan) id the op ids derive from: a retried start finds the running build. */
  id: string;
  commit: string;
  hosts: readonly string[];
  /** Builds at once (each on its own host; default: all of them, up to 64). */
  parallelism?: number;
  onHost?: (h: PlannedHost) => void;
  onProgress?: (host: string, p: BuildProgress) => void;
  signal?: AbortSignal;
}

export async function buildFleetPlan(o: BuildFleetPlanOptions): Promise<FleetPlan> {
  const hosts: PlannedHost[] = o.hosts.map((host) => ({ host, state: 'failed', opId: deployOpId(o.id, 'build', host), error: 'not planned yet' }));
  await eachLimited(hosts, Math.min(o.parallelism ?? hosts.length, MAX_PARALLELISM), () => !!o.signal?.aborted, async (h) => {
    try {
      const op = await o.agents.runOp(h.host, 'build', { rev: o.commit }, {
        opId: h.opId,
        onOutput: (lines) => {
          for (const l of lines) if (l.progress) o.onProgress?.(h.host, l.progress);
        },
      });
      if (op.state !== 'succeeded') {
        Object.assign(h, { state: 'failed', error: op.error ?? `host ${h.host}: the plan's build ended ${op.state}; see the host's log` });
      } else {
        const built = opResultOf('build', op.result);
        if (!built?.plan) {
          Object.assign(h, { state: 'failed', error: `host ${h.host}: its agent did not return a plan (update the agent to one with the build-plan capability)` });
        } else {
          Object.assign(h, { state: 'planned', plan: built.plan, generationBefore: built.generationBefore, error: undefined });
          delete h.error;
        }
      }
    } catch (err) {
      Object.assign(h, { state: 'failed', error: `host ${h.host}: the plan's build could not start (${(err as Error).message}); nothing was changed on it` });
    }
    o.onHost?.(h);
  });
  if (o.signal?.aborted) for (const h of hosts) if (h.error === 'not planned yet') h.error = `host ${h.host}: planning was cancelled`;
  return { id: o.id, commit: o.commit, madeAt: new Date().toISOString(), hosts };
}

/** One group of hosts that would see the same change. */
export interface PlanGroup {
  kind: 'no-change' | 'change' | 'failed';
  hosts: string[];
  packages: PackageChange[];
  /** Units per action, or the reason they are not known. */
  units?: { stop: string[]; restart: string[]; reload: string[]; start: string[] };
  unitsNotKnown?: string;
  /** Closure size change across the group's hosts (they may differ in size). */
  closureBytesChange?: { min: number; max: number };
  error?: string;
  /** One line: "3 hosts: openssl 3.0.2 → 3.0.3; restart nginx.service; +12.0 KiB". */
  summary: string;
}

function changeKey(p: HostPlan): string {
  const pkgs = p.packages.map((c) => `${c.name}:${c.from.join(',')}>${c.to.join(',')}`).sort();
  const a = p.activation;
  const units = a.known ? ['stop', 'restart', 'reload', 'start'].map((k) => `${k}=${a.units[k as 'stop'].join(',')}`) : [`?${a.reason}`];
  return JSON.stringify([pkgs, units]);
}

function describePackage(c: PackageChange): string {
  if (c.change === 'added') return `+${c.name} ${c.to.join(', ')}`;
  if (c.change === 'removed') return `-${c.name} ${c.from.join(', ')}`;
  return `${c.name} ${c.from.join(', ')} → ${c.to.join(', ')}`;
}

function summarize(g: Omit<PlanGroup, 'summary'>): string {
  const n = `${g.hosts.length} host${g.hosts.length === 1 ? '' : 's'}`;
  if (g.kind === 'no-change') return `${n}: no change (skipped)`;
  if (g.kind === 'failed') return `${n}: plan failed: ${g.error}`;
  const parts: string[] = [];
  parts.push(g.packages.length ? g.packages.map(describePackage).join(', ') : 'no package version changes');
  if (g.units) {
    const u = (['stop', 'restart', 'reload', 'start'] as const).filter((k) => g.units![k].length).map((k) => `${k} ${g.units![k].join(', ')}`);
    parts.push(u.length ? u.join('; ') : 'no unit changes');
  } else parts.push('units: not known');
  if (g.closureBytesChange) {
    const f = (b: number) => `${b >= 0 ? '+' : ''}${formatBytes(b)}`;
    parts.push(g.closureBytesChange.min === g.closureBytesChange.max ? f(g.closureBytesChange.min) : `${f(g.closureBytesChange.min)} to ${f(g.closureBytesChange.max)}`);
  }
  return `${n}: ${parts.join('; ')}`;
}

/**
 * Hosts grouped by change set (same package changes and same units), biggest group first;
 * "no change" and failed plans each form their own groups (failures by message, last).
 */
export function groupPlan(plan: FleetPlan): PlanGroup[] {
  const groups = new Map<string, Omit<PlanGroup, 'summary'>>();
  for (const h of plan.hosts) {
    if (h.state === 'failed' || !h.plan) {
      const key = `failed:${h.error}`;
      const g = groups.get(key) ?? { kind: 'failed' as const, hosts: [], packages: [], error: h.error ?? 'unknown' };
      g.hosts.push(h.host);
      groups.set(key, g);
      continue;
    }
    const p = h.plan;
    if (p.noChange) {
      const g = groups.get('no-change') ?? { kind: 'no-change' as const, hosts: [], packages: [] };
      g.hosts.push(h.host);
      groups.set('no-change', g);
      continue;
    }
    const key = changeKey(p);
    const g = groups.get(key) ?? {
      kind: 'change' as const,
      hosts: [],
      packages: p.packages,
      ...(p.activation.known ? { units: p.activation.units } : { unitsNotKnown: p.activation.reason }),
    };
    g.hosts.push(h.host);
    if (p.closureBytesChange !== undefined) {
      const c = g.closureBytesChange;
      g.closureBytesChange = c ? { min: Math.min(c.min, p.closureBytesChange), max: Math.max(c.max, p.closureBytesChange) } : { min: p.closureBytesChange, max: p.closureBytesChange };
    }
    groups.set(key, g);
  }
  const rank = { change: 0, 'no-change': 1, failed: 2 } as const;
  return [...groups.values()]
    .sort((a, b) => rank[a.kind] - rank[b.kind] || b.hosts.length - a.hosts.length || a.hosts[0]!.localeCompare(b.hosts[0]!))
    .map((g) => ({ ...g, summary: summarize(g) }));
}
