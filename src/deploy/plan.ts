// Planning a deploy: validate what the user picked and fix the order (canaries first, in
// the order of the canary setting, then the rest in the order given). Nothing runs here.
import { createHash, randomBytes } from 'node:crypto';
import { commitHash, hostName, printable, type OpKind } from '../../protocol';
import type { DeployHost, DeployRecord, DeployTarget } from './types';

/** Wide enough for a fleet on a broker (1000 hosts, 100 at once: docs/broker.md); each host builds on its own CPU. */
export const MAX_PARALLELISM = 256;

export interface PlanOptions {
  target: DeployTarget;
  hosts: readonly string[];
  /** The canary setting: hosts deployed first, one at a time. Entries not in `hosts` are ignored. */
  canaries?: readonly string[];
  /** How many non-canary hosts deploy at once. */
  parallelism?: number;
  who: string;
  now?: Date;
}

export class DeployPlanError extends Error {
  override name = 'DeployPlanError';
}

export function newDeployId(now = Date.now()): string {
  return `${now.toString(36)}${randomBytes(3).toString('hex')}`;
}

/**
 * Op ids are derived from the deploy, the step and the host, so a retried op.start after a
 * dropped connection finds the op already running instead of starting it twice. Host names
 * may hold "@", which op ids may not: a short hash stands in for them.
 */
export function deployOpId(deployId: string, kind: OpKind | 'rollback', host: string, attempt = 1): string {
  const h = createHash('sha256').update(host).digest('hex').slice(0, 10);
  const k = kind === 'force-rebuild' ? 'fr' : kind.slice(0, 8);
  return `deploy-${deployId}-${k}${attempt > 1 ? attempt : ''}-${h}`;
}

export function planDeploy(o: PlanOptions): DeployRecord {
  if (!commitHash.safeParse(o.target.commit).success) {
    throw new DeployPlanError(`"${printable(o.target.commit)}" is not a commit hash: deploy a commit (full or abbreviated hash) or a merged PR`);
  }
  if (o.target.pr && (!Number.isInteger(o.target.pr.number) || o.target.pr.number < 1)) {
    throw new DeployPlanError(`"${o.target.pr.number}" is not a pull request number`);
  }
  if (o.hosts.length === 0) throw new DeployPlanError('No hosts were chosen: pick at least one host to deploy to');
  const seen = new Set<string>();
  for (const h of o.hosts) {
    if (!hostName.safeParse(h).success) throw new DeployPlanError(`"${printable(h)}" is not a host name (a flake attribute name, or user@host for home-manager)`);
    if (seen.has(h)) throw new DeployPlanError(`host ${h} was chosen twice: each host is deployed once`);
    seen.add(h);
  }
  const parallelism = o.parallelism ?? 4;
  if (!Number.isInteger(parallelism) || parallelism < 1 || parallelism > MAX_PARALLELISM) {
    throw new DeployPlanError(`deploy parallelism must be a whole number from 1 to ${MAX_PARALLELISM} (nixfleet.deploy.parallelism), not ${parallelism}`);
  }
  if (!o.who || o.who.length > 128) throw new DeployPlanError('the deploy needs a user name for the audit log (1-128 characters)');
  const canaries = (o.canaries ?? []).filter((c, i, all) => seen.has(c) && all.indexOf(c) === i);
  const rest = o.hosts.filter((h) => !canaries.includes(h));
  const host = (name: string, canary: boolean): DeployHost => ({ host: name, canary, outcome: 'pending', switchStarted: false, ops: [] });
  return {
    id: newDeployId((o.now ?? new Date()).getTime()),
    target: { ...o.target },
    who: o.who,
    startedAt: (o.now ?? new Date()).toISOString(),
    state: 'planned',
    canaries,
    parallelism,
    hosts: [...canaries.map((c) => host(c, true)), ...rest.map((h) => host(h, false))],
  };
}

/** Run `work` over `items` with at most `limit` at once; `stop()` true means start no more. */
export async function eachLimited<T>(items: readonly T[], limit: number, stop: () => boolean, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stop()) {
      const item = items[next++]!;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
