// HostStatus, assembled from the checkout, the profile's generations, the host lock
// and the health checks recorded for the current generation.
import { hostStatus, type HostStatus } from '../../protocol';
import type { AgentConfig } from '../config';
import { AGENT_VERSION } from '../version';
import { listGenerations } from '../nix/generations';
import { currentHolder } from '../runner/lock';

export async function buildHostStatus(config: AgentConfig, nixVersion: string, startedAt: string): Promise<HostStatus> {
  // Loaded on first use: simple-git is not needed by an agent nobody asks.
  const { readCheckout } = await import('../git/status');
  const [generations, checkout] = await Promise.all([
    listGenerations(config),
    readCheckout(config).catch((err: Error) => ({ path: config.flake, dirty: false, error: `cannot read the checkout: ${err.message}` })),
  ]);
  const current = generations.find((g) => g.current);
  const lkw = [...generations].reverse().find((g) => g.lastKnownWorking);
  const holder = currentHolder(config.stateDir);
  const status: HostStatus = {
    host: config.host,
    platform: config.platform,
    agentVersion: AGENT_VERSION,
    nixVersion,
    switchMethod: config.switchMethod,
    currentGeneration: current?.generation,
    lastKnownWorking: lkw?.generation,
    checkout,
    currentRevision: current?.revision,
    lastChecks: current?.checks,
    busy: holder && holder.op !== 'unknown' ? { op: holder.op, kind: holder.kind, since: holder.since } : undefined,
    startedAt,
  };
  for (const k of Object.keys(status) as (keyof HostStatus)[]) if (status[k] === undefined) delete status[k];
  return hostStatus.parse(status);
}
