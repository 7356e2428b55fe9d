// A small fleet for the plan and rollout tests: real agents (dist/agent.js) on the Nix test
// bed, each host on generation 1, a health check per host that fails while
// <host dir>/unhealthy exists, and DeployAgents over the extension's Fleet that also keeps
// every output line per host (to compare progress with what the build printed).
import { execFile } from 'node:child_process';
import { readlinkSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { OutputLine, Platform } from '../../protocol';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { startAgent, type RunningAgent } from './agent-harness';
import { openAgentSession } from '../../src/fleet/agentSession';
import { Fleet } from '../../src/fleet/fleet';
import type { HostEntry } from '../../src/fleet/hostConfig';
import { fleetAgents } from '../../src/deploy/fleetAgents';
import type { DeployAgents } from '../../src/deploy/types';

const execFileP = promisify(execFile);

export interface RolloutFleet {
  bed: TestBed;
  agents: DeployAgents;
  running: Map<string, RunningAgent>;
  fleet: Fleet;
  /** Output lines seen per host, in order. */
  output: Map<string, OutputLine[]>;
  generation(host: string): number;
  setUnhealthy(host: string, on: boolean): void;
  /** A Fleet with one more host whose agent does not listen (for the offline refusal). */
  withOffline(name: string): Promise<{ agents: DeployAgents; dispose(): void }>;
  dispose(): Promise<void>;
}

export async function startRolloutFleet(hosts: { name: string; platform: Platform }[], prepare?: (bed: TestBed) => Promise<void>): Promise<RolloutFleet> {
  const bed = await createTestBed({ hosts });
  await prepare?.(bed);
  for (const h of hosts) {
    const storePath = await bed.build(h.name, bed.workstation);
    await execFileP('nix-env', ['-p', bed.host(h.name).profile, '--set', storePath], { env: bed.env });
  }
  const running = new Map<string, RunningAgent>();
  for (const h of hosts) {
    const marker = path.join(bed.host(h.name).dir, 'unhealthy');
    running.set(h.name, await startAgent(bed, h.name, { overrides: { healthChecks: [['/bin/sh', '-c', `if [ -e '${marker}' ]; then echo 'web: 503 Service Unavailable' >&2; exit 1; fi`]] } }));
  }
  const makeFleet = (entries: HostEntry[], connectWaitMs: number) => {
    const fleet = new Fleet({
      openSession: (entry, endpoint, token) => openAgentSession({ entry, endpoint, token, clientName: 'rollout-test', clientVersion: '1', requestTimeoutMs: 60_000 }),
      getToken: async () => bed.token,
      connectWaitMs,
      refreshDelayMs: 20,
    });
    fleet.configure(entries, [], []);
    return fleet;
  };
  const entries: HostEntry[] = hosts.map((h) => ({ name: h.name, address: running.get(h.name)!.url, platform: h.platform }));
  const fleet = makeFleet(entries, 10_000);
  await fleet.start();
  const output = new Map<string, OutputLine[]>();
  const tee = (base: DeployAgents): DeployAgents => ({
    status: (host) => base.status(host),
    runOp: (host, kind, params, opts) =>
      base.runOp(host, kind, params, {
        ...opts,
        onOutput: (lines) => {
          const all = output.get(host) ?? [];
          all.push(...lines);
          output.set(host, all);
          opts.onOutput?.(lines);
        },
      }),
  });
  return {
    bed,
    agents: tee(fleetAgents(fleet)),
    running,
    fleet,
    output,
    generation: (host) => Number(/-(\d+)-link$/.exec(readlinkSync(bed.host(host).profile))![1]),
    setUnhealthy(host, on) {
      const marker = path.join(bed.host(host).dir, 'unhealthy');
      if (on) writeFileSync(marker, '');
      else rmSync(marker, { force: true });
    },
    async withOffline(name) {
      // Port 1 on loopback: nothing listens there, so the connection is refused at once.
      const f = makeFleet([...entries, { name, address: 'ws://127.0.0.1:1', platform: 'nixos' }], 1_000);
      await f.start();
      return { agents: tee(fleetAgents(f)), dispose: () => f.dispose() };
    },
    async dispose() {
      fleet.dispose();
      await Promise.all([...running.values()].map((a) => a.stop()));
      await bed.cleanup();
    },
  };
}
