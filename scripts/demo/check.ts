// `npm start -- --check`: every command the extension has, run on the demo fleet through
// the same vscode-free client core the extension uses (src/fleet/agentClient.ts over
// WebSocket with each host's token, src/fleet's rollback and Rebuild Smart helpers,
// src/deploy's DeployService, src/github's Octokit client), one check line per command,
// each confirmed on disk or in the agent's journal (hostChecks.ts, deployChecks.ts).
//
// Order: the three hosts run their own commands side by side; the fleet-wide ones (deploy,
// Plan Deploy of what the deploy left undone, Revert PR, Rollback Deployed Hosts) come last,
// on what the hosts pushed.
import type { AgentClient } from '../../src/fleet/agentClient';
import type { DemoFleet, DemoHost } from './fleet';
import { deployWithFailingHost, planDeploy, prepareDeploy, revertPr, rollbackDeployedHosts, type DeployScene } from './deployChecks';
import * as hc from './hostChecks';
import { client } from './ops';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  /** How long the command took, in ms (the hosts run theirs side by side). */
  ms: number;
}

/**
 * The commands each host runs after the common ones, by its position in the fleet: spread so
 * the three chains take about as long. Update Agent's lock commit stays in its host's checkout
 * (self-update does not push), so it runs on the host the deploy does not reach.
 */
const HOST_COMMANDS = [
  ['Force Rebuild', 'Run Tests', 'Rebuild Smart'],
  ['Force Rebuild from Source', 'Cancel', 'Delete Old Generations'],
  ['Rollback to generation 1', 'Update Agent'],
] as const;
const COMMON = ['agent answers', 'a wrong token is refused', 'Pull', 'Switch', 'Rollback'] as const;
const FLEET = ['Deploy with a failing host', 'Plan Deploy', 'Revert PR', 'Rollback Deployed Hosts'] as const;

/** How many check lines a full run prints. */
export function expectedChecks(fleet: DemoFleet): number {
  return fleet.hosts.length * COMMON.length + HOST_COMMANDS.flat().length + FLEET.length;
}

export async function checkFleet(fleet: DemoFleet, say: (r: CheckResult) => void): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const record = (name: string, ok: boolean, detail: string, ms: number) => {
    const r = { name, ok, detail, ms };
    results.push(r);
    say(r);
    return ok;
  };
  const attempt = async (name: string, fn: () => Promise<string>): Promise<boolean> => {
    const t0 = Date.now();
    try {
      const detail = await fn();
      return record(name, true, detail, Date.now() - t0);
    } catch (err) {
      return record(name, false, err instanceof Error ? err.message : String(err), Date.now() - t0);
    }
  };

  const clients = new Map<string, AgentClient>(fleet.hosts.map((h) => [h.name, client(h)]));
  const ctx = (h: DemoHost): hc.HostCtx => ({ fleet, h, c: clients.get(h.name)! });
  try {
    // One upstream commit gives every host something to pull and switch to.
    const versions = new Map(fleet.hosts.map((h, i) => [h.name, `24.05.${4 + i}`]));
    const rev = await fleet.bed.commit(Object.fromEntries(fleet.hosts.map((h) => [`hosts/${h.name}/version`, versions.get(h.name)! + '\n'])), 'demo: new system versions');

    const perHost = async (h: DemoHost, i: number): Promise<boolean> => {
      const x = ctx(h);
      const n = (what: string) => `${h.name}: ${what}${what === 'agent answers' ? ` on ${h.address}` : ''}`;
      if (!(await attempt(n('agent answers'), () => hc.agentAnswers(x)))) return false;
      await attempt(n('a wrong token is refused'), () => hc.wrongTokenRefused(x));
      if (!(await attempt(n('Pull'), () => hc.pull(x, rev)))) return false;
      if (!(await attempt(n('Switch'), () => hc.switchTo(x, rev, versions.get(h.name)!)))) return false;
      if (!(await attempt(n('Rollback'), () => hc.rollback(x)))) return false;
      let ok = true;
      for (const command of HOST_COMMANDS[i] ?? []) {
        const run: Record<string, () => Promise<string>> = {
          'Force Rebuild': () => hc.forceRebuild(x, false),
          'Run Tests': () => hc.runTests(x),
          'Update Agent': () => hc.updateAgent(x),
          'Rebuild Smart': () => hc.rebuildSmart(x, '24.05.9'),
          'Force Rebuild from Source': () => hc.forceRebuild(x, true),
          Cancel: () => hc.cancel(x),
          'Rollback to generation 1': () => hc.rollbackToGeneration(x, 1),
          'Delete Old Generations': () => hc.deleteOldGenerations(x),
        };
        ok = (await attempt(n(command), run[command]!)) && ok;
      }
      return ok;
    };
    const hostsOk = (await Promise.all(fleet.hosts.map(perHost))).every(Boolean);
    if (!hostsOk) return results; // the fleet-wide checks need every host where it should be

    let scene: DeployScene | undefined;
    try {
      const deployed = await attempt(`fleet: ${FLEET[0]}`, async () => {
        scene = await prepareDeploy(fleet, clients, '24.05.10');
        return deployWithFailingHost(fleet, scene, '24.05.10');
      });
      if (!deployed || !scene) return results;
      const s = scene;
      await attempt(`fleet: ${FLEET[1]}`, () => planDeploy(fleet, s, '24.05.10'));
      await attempt(`fleet: ${FLEET[2]}`, () => revertPr(fleet, s));
      await attempt(`fleet: ${FLEET[3]}`, () => rollbackDeployedHosts(fleet, s));
    } finally {
      await scene?.close();
    }
    return results;
  } finally {
    for (const c of clients.values()) c.close();
  }
}
