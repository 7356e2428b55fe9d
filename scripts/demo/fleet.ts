// The demo fleet: the real-Nix test bed (test/fixtures/testbed.ts: a nixcfg flake with h1
// (nixos), h2 (darwin) and alice@h3 (home-manager), a bare origin and one checkout per host)
// with three system generations per host built by real `nix build` from real commits. The
// flake pins input "nixfleet" (scripts/demo/agentRepo.ts: a local git flake packaging this
// checkout's agent) and every system carries that package. Each host's agent runs from its
// current system, as its service would (agentService.ts), on a free loopback port with its
// own token in its own 0600 token file. Once the fleet is up, the agent repo gets a newer
// release, so Update Agent has something to update.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { createTestBed, type TestBed } from '../../test/fixtures/testbed';
import { TEST_GIT_ENV } from '../../test/fixtures/git';
import type { Platform } from '../../protocol';
import { createAgentRepo, type AgentRepo } from './agentRepo';
import { AgentService } from './agentService';
import { client, runOp } from './ops';

const execFileP = promisify(execFile);

export interface DemoHost {
  name: string;
  platform: Platform;
  address: string;
  port: number;
  token: string;
  config: string;
  profile: string;
  checkout: string;
  stateDir: string;
  /** The host's dir in the bed (markers such as <dir>/fail and <dir>/slow live here). */
  dir: string;
  log: string;
  /** The agent process, run from the host's current system like its service. */
  service: AgentService;
}

export interface DemoFleet {
  bed: TestBed;
  /** The nixcfg clone to open in the editor (commits made there can be pushed to origin). */
  workspace: string;
  hosts: DemoHost[];
  /** The NixFleet repository the nixcfg's input "nixfleet" points at. */
  agentRepo: AgentRepo;
  /** The agent version the hosts run after set-up, and the newer one the agent repo offers. */
  agentVersions: { installed: string; offered: string };
  stop(): Promise<void>;
}

export const DEMO_VERSIONS = ['24.05.1', '24.05.2', '24.05.3'];

import { freePort } from './process';

export { freePort, stopChild } from './process';

export async function createDemoFleet(opts: {
  root: string;
  log: (msg: string) => void;
  /** Gets the teardown as soon as there is something to tear down (for Ctrl-C during set-up). */
  onStop?: (stop: () => Promise<void>) => void;
}): Promise<DemoFleet> {
  const { root, log } = opts;
  const services: AgentService[] = [];
  const scratch = mkdtempSync(path.join(tmpdir(), 'nixfleet-demo-agent-'));
  let bed: TestBed | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(services.map((s) => s.stop()));
    await bed?.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  };
  opts.onStop?.(stop);
  try {
    const pkgVersion = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
    const agentVersions = { installed: `${pkgVersion}+demo.1`, offered: `${pkgVersion}+demo.2` };
    log(`bundling the agent as ${agentVersions.installed} and ${agentVersions.offered} into a local NixFleet git repository (the nixcfg's input "nixfleet") in ${scratch}`);
    const agentRepo = await createAgentRepo({ root, dir: scratch, versions: [agentVersions.installed, agentVersions.offered], env: { ...process.env, ...TEST_GIT_ENV } });
    log('creating the nixcfg flake, its origin and one checkout per host (real git, real Nix)');
    bed = await createTestBed({ agentInput: { url: agentRepo.url } });
    const theBed = bed;
    const names = Object.keys(bed.hosts);
    // Generation 1 is installed by hand, as on a host that just got its agent; 2 and 3 come
    // from commits switched by the agents, so they carry their revision and check results.
    log(`installing generation 1 (system version ${DEMO_VERSIONS[0]}, agent ${agentVersions.installed}) on ${names.join(', ')}`);
    await Promise.all(
      names.map(async (n) => {
        const storePath = await theBed.build(n, theBed.workstation);
        await execFileP('nix-env', ['-p', theBed.hosts[n]!.profile, '--set', storePath], { env: theBed.env });
        await execFileP('git', ['pull', '-q', '--ff-only', 'origin', 'main'], { cwd: theBed.hosts[n]!.checkout, env: theBed.env });
      }),
    );

    const hosts: DemoHost[] = [];
    for (const n of names) {
      const h = bed.hosts[n]!;
      const port = await freePort();
      const token = randomBytes(24).toString('base64url');
      const tokenFile = path.join(h.dir, 'agent-token');
      writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
      // Real health checks: the running generation is a valid store path; and one that takes
      // a minute while <dir>/slow exists, so a long op can be tried (and cancelled).
      const slow = path.join(h.dir, 'slow');
      const config = bed.writeConfig(n, {
        listen: `127.0.0.1:${port}`,
        tokenFile,
        healthChecks: [
          ['nix-store', '--query', '--hash', h.profile],
          ['/bin/sh', '-c', `if [ -e '${slow}' ]; then echo "slow check: ${slow} exists, sleeping 60 s"; sleep 60; fi`],
        ],
      });
      const logFile = path.join(h.dir, 'agent.log');
      const env = { ...process.env, ...bed.env };
      delete env.NODE_OPTIONS;
      const service = new AgentService({ host: n, dir: h.dir, profile: h.profile, config, cwd: h.checkout, env, logFile, port, log });
      bed.setHook(n, service.activationHook());
      services.push(service);
      hosts.push({ name: n, platform: h.platform, address: `ws://127.0.0.1:${port}`, port, token, config, profile: h.profile, checkout: h.checkout, stateDir: h.stateDir, dir: h.dir, log: logFile, service });
    }
    log(`starting ${hosts.length} agents on loopback, each from its host's current system`);
    await Promise.all(services.map((s) => s.start()));
    for (const version of DEMO_VERSIONS.slice(1)) {
      const rev = await bed.commit(Object.fromEntries(names.map((n) => [`hosts/${n}/version`, version + '\n'])), `hosts: system version ${version}`);
      // One op per host, as a deploy does it: switch {rev} fast-forwards the checkout, then builds.
      log(`switching ${names.join(', ')} to system version ${version} (commit ${rev.slice(0, 7)}) through their agents`);
      await Promise.all(
        hosts.map(async (h) => {
          const c = client(h);
          try {
            await c.connect();
            const r = await runOp(c, h, 'switch', { rev });
            if (r.state !== 'succeeded') throw new Error(`switch on ${h.name} ${r.state}: ${r.error ?? ''}; see ${h.log}`);
          } finally {
            c.close();
          }
        }),
      );
    }
    // A newer NixFleet release for Update Agent; the hosts' flake.lock still pins the first.
    await agentRepo.release(agentVersions.offered);
    return { bed, workspace: bed.workstation, hosts, agentRepo, agentVersions, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
