// The demo fleet: helper A's real-Nix test bed (test/fixtures/testbed.ts: a nixcfg flake with
// h1 (nixos), h2 (darwin) and alice@h3 (home-manager), a bare origin and one checkout per host)
// with three system generations per host built by real `nix build` from real commits, one
// real agent per host (`node dist/agent.js serve`) on a free loopback port, each with its own
// token in its own 0600 token file.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { createTestBed, type TestBed } from '../../test/fixtures/testbed';
import type { Platform } from '../../protocol';
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
  log: string;
}

export interface DemoFleet {
  bed: TestBed;
  /** The nixcfg clone to open in the editor (commits made there can be pushed to origin). */
  workspace: string;
  hosts: DemoHost[];
  stop(): Promise<void>;
}

export const DEMO_VERSIONS = ['24.05.1', '24.05.2', '24.05.3'];

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setTimeout(500);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.once('timeout', () => { s.destroy(); resolve(false); });
  });
}

/** Kill a process group we started (never anything else). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}

export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function createDemoFleet(opts: {
  root: string;
  log: (msg: string) => void;
  /** Gets the teardown as soon as there is something to tear down (for Ctrl-C during set-up). */
  onStop?: (stop: () => Promise<void>) => void;
}): Promise<DemoFleet> {
  const { root, log } = opts;
  const agents: ChildProcess[] = [];
  log('creating the nixcfg flake, its origin and one checkout per host (real git, real Nix)');
  const bed = await createTestBed();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(agents.map((a) => stopChild(a)));
    await bed.cleanup();
  };
  opts.onStop?.(stop);
  try {
    const names = Object.keys(bed.hosts);
    // Generation 1 is installed by hand, as on a host that just got its agent; 2 and 3 come
    // from commits switched by the agents, so they carry their revision and check results.
    log(`installing generation 1 (system version ${DEMO_VERSIONS[0]}) on ${names.join(', ')}`);
    for (const n of names) {
      const storePath = await bed.build(n, bed.workstation);
      await execFileP('nix-env', ['-p', bed.hosts[n]!.profile, '--set', storePath], { env: bed.env });
      await execFileP('git', ['pull', '-q', '--ff-only', 'origin', 'main'], { cwd: bed.hosts[n]!.checkout, env: bed.env });
    }

    const agentJs = path.join(root, 'dist', 'agent.js');
    const hosts: DemoHost[] = [];
    for (const n of names) {
      const h = bed.hosts[n]!;
      const port = await freePort();
      const token = randomBytes(24).toString('base64url');
      const tokenFile = path.join(h.dir, 'agent-token');
      writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
      // A real health check: the running generation is a valid store path.
      const config = bed.writeConfig(n, { listen: `127.0.0.1:${port}`, tokenFile, healthChecks: [['nix-store', '--query', '--hash', h.profile]] });
      const logFile = path.join(h.dir, 'agent.log');
      const fd = openSync(logFile, 'a');
      const env = { ...process.env, ...bed.env };
      delete env.NODE_OPTIONS;
      const child = spawn(process.execPath, [agentJs, 'serve', '--config', config], { cwd: h.checkout, env, detached: true, stdio: ['ignore', fd, fd] });
      closeSync(fd);
      agents.push(child);
      hosts.push({ name: n, platform: h.platform, address: `ws://127.0.0.1:${port}`, port, token, config, profile: h.profile, checkout: h.checkout, stateDir: h.stateDir, log: logFile });
    }
    log(`starting ${hosts.length} agents on loopback`);
    const deadline = Date.now() + 20_000;
    for (const [i, h] of hosts.entries()) {
      for (;;) {
        const child = agents[i]!;
        if (child.exitCode !== null || child.signalCode !== null) {
          const tail = readFileSync(h.log, 'utf8').trim().split('\n').slice(-5).join('\n  ');
          throw new Error(`the agent for ${h.name} exited at start (node dist/agent.js serve --config ${h.config}); its log ${h.log} ends:\n  ${tail}`);
        }
        if (await canConnect(h.port)) break;
        if (Date.now() > deadline) throw new Error(`the agent for ${h.name} is not listening on 127.0.0.1:${h.port} after 20 s; see ${h.log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (const version of DEMO_VERSIONS.slice(1)) {
      for (const n of names) await bed.setVersion(n, version);
      log(`switching ${names.join(', ')} to system version ${version} through their agents (pull, switch)`);
      await Promise.all(
        hosts.map(async (h) => {
          const c = client(h);
          try {
            await c.connect();
            for (const kind of ['pull', 'switch'] as const) {
              const r = await runOp(c, h, kind, {});
              if (r.state !== 'succeeded') throw new Error(`${kind} on ${h.name} ${r.state}: ${r.error ?? ''}; see ${h.log}`);
            }
          } finally {
            c.close();
          }
        }),
      );
    }
    return { bed, workspace: bed.workstation, hosts, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
