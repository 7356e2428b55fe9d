// Preflight: everything a rollout needs checked before any host is touched. The commit must
// be on the remote the hosts fetch from (else "only local: push first"), no host may be
// busy or unreachable, and every host must have a plan for this commit. A refusal changes
// nothing anywhere, and the record says so (no revert, no rollback to offer).
import { HostStatus } from '../../protocol';
import { commitOnRemote } from '../gitops/repo';
import type { FleetPlan } from './fleetPlan';
import { eachLimited } from './plan';
import type { PreflightProblem } from './rolloutTypes';
import type { DeployAgents } from './types';

export type { PreflightProblem };

export interface PreflightOptions {
  agents: DeployAgents;
  commit: string;
  hosts: readonly string[];
  /** The workspace clone and the remote the hosts pull from (default origin). Without repoDir the commit is not checked. */
  repoDir?: string;
  remote?: string;
}

export interface Preflight {
  ok: boolean;
  problems: PreflightProblem[];
  /** Each reachable host's status (its current generation is what a rollback returns to). */
  statuses: Record<string, HostStatus>;
}

/** The commit and the hosts' state (reads only). */
export async function preflight(o: PreflightOptions): Promise<Preflight> {
  const problems: PreflightProblem[] = [];
  const statuses: Record<string, HostStatus> = {};
  const short = o.commit.slice(0, 12);
  const commitCheck = o.repoDir
    ? commitOnRemote(o.repoDir, o.commit, o.remote).then((r) => {
        const remote = o.remote ?? 'origin';
        if (r.where === 'local-only') problems.push({ kind: 'unpushed', message: `commit ${short} is only local: push first (git push ${remote}); the hosts fetch from ${remote}` });
        else if (r.where === 'unknown') problems.push({ kind: 'unknown-commit', message: `commit ${short} is neither in the workspace nor on ${remote}${r.fetchError ? ` (fetch failed: ${r.fetchError})` : ''}: check the hash, or fetch` });
      })
    : Promise.resolve();
  const hostCheck = eachLimited(o.hosts, 16, () => false, async (host) => {
    try {
      const s = await o.agents.status(host);
      statuses[host] = s;
      if (s.busy) problems.push({ kind: 'busy', host, message: `host ${host} is busy: ${s.busy.kind} running since ${s.busy.since}; wait for it or cancel it, then deploy again` });
    } catch (err) {
      problems.push({ kind: 'offline', host, message: `host ${host} is not reachable (${(err as Error).message}); bring it online or leave it out of the deploy` });
    }
  });
  await Promise.all([commitCheck, hostCheck]);
  // Commit problems first, then hosts in the order given: the first problem is the headline.
  const order = (p: PreflightProblem) => (p.host === undefined ? -1 : o.hosts.indexOf(p.host));
  problems.sort((a, b) => order(a) - order(b));
  return { ok: problems.length === 0, problems, statuses };
}

/** The plan must be for this commit and have every host planned. */
export function planProblems(plan: FleetPlan | undefined, commit: string, hosts: readonly string[]): PreflightProblem[] {
  if (!plan || plan.commit !== commit) {
    return [{ kind: 'no-plan', message: `no plan was built for commit ${commit.slice(0, 12)}: plan the deploy first` }];
  }
  const out: PreflightProblem[] = [];
  for (const host of hosts) {
    const h = plan.hosts.find((x) => x.host === host);
    if (!h) out.push({ kind: 'no-plan', host, message: `host ${host} is not in the plan: plan the deploy again with it` });
    else if (h.state !== 'planned') out.push({ kind: 'plan-failed', host, message: h.error ?? `host ${host}: its plan failed; see its log` });
  }
  return out;
}
