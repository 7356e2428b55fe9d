// HostStatus, assembled from the checkout, the profile's generations, the host lock
// and the health checks recorded for the current generation.
import { realpath } from 'node:fs/promises';
import { hostStatus, type Generation, type HostStatus } from '../../protocol';
import type { AgentConfig } from '../config';
import { AGENT_VERSION } from '../version';
import { listGenerations } from '../nix/generations';
import { currentHolder } from '../runner/lock';

export async function buildHostStatus(config: AgentConfig, nixVersion: string, startedAt: string): Promise<HostStatus> {
  // Loaded on first use: simple-git is not needed by an agent nobody asks.
  const { readCheckout } = await import('../git/status');
  const [generations, checkout, running] = await Promise.all([
    listGenerations(config),
    readCheckout(config).catch((err: Error) => ({ path: config.flake, dirty: false, error: `cannot read the checkout: ${err.message}` })),
    runningSystemPath(config.runningSystem),
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
    runningSystem: running === undefined ? undefined : { path: running, generation: generationOf(generations, running, current) },
    lastChecks: current?.checks,
    busy: holder && holder.op !== 'unknown' ? { op: holder.op, kind: holder.kind, since: holder.since } : undefined,
    startedAt,
  };
  for (const k of Object.keys(status) as (keyof HostStatus)[]) if (status[k] === undefined) delete status[k];
  return hostStatus.parse(status);
}

/** Where the running-system link points; undefined when there is none (not activated yet, or not this platform's layout). */
async function runningSystemPath(link: string): Promise<string | undefined> {
  try {
    return await realpath(link);
  } catch {
    return undefined;
  }
}

/** The generation that holds `storePath`: the current one when it does, else the newest that does. */
function generationOf(generations: readonly Generation[], storePath: string, current: Generation | undefined): number | undefined {
  if (current?.path === storePath) return current.generation;
  return [...generations].reverse().find((g) => g.path === storePath)?.generation;
}
