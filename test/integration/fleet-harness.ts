// The extension's Fleet core against real agents, as the integration tests set it up: one
// place for the session options, and the profile generation the tests compare it with.
import { readlinkSync } from 'node:fs';
import { openAgentSession } from '../../src/fleet/agentSession';
import { Fleet } from '../../src/fleet/fleet';

/** The generation a profile link points at (`<profile>-N-link`). */
export function profileGeneration(profile: string): number {
  return Number(/-(\d+)-link$/.exec(readlinkSync(profile))![1]);
}

/** A Fleet whose sessions are real agent sessions named `clientName`. */
export function agentFleet(clientName: string, getToken: (host: string) => Promise<string | undefined>, opts: { requestTimeoutMs?: number; connectWaitMs?: number; refreshDelayMs?: number } = {}): Fleet {
  return new Fleet({
    openSession: (entry, endpoint, token) => openAgentSession({ entry, endpoint, token, clientName, clientVersion: '1', requestTimeoutMs: opts.requestTimeoutMs ?? 60_000 }),
    getToken,
    ...(opts.connectWaitMs !== undefined ? { connectWaitMs: opts.connectWaitMs } : {}),
    refreshDelayMs: opts.refreshDelayMs ?? 20,
  });
}
