// The demo fleet of one e2e phase: helper A's real-Nix test bed (via bed-setup.ts under tsx)
// plus one real agent process per host (`node dist/agent.js serve --config FILE`) on loopback,
// and one host address where nothing listens (the unreachable host).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, readlinkSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { canConnect, freePort, startGroup, stopGroup, waitFor } from './procs.mjs';

export const HOST_NAMES = ['h1', 'h2', 'alice@h3'];
export const OFFLINE_HOST = 'offline1';

export class Fleet {
  constructor({ root, dir, keep = false }) {
    this.root = root; // the project
    this.dir = dir; // this phase's private folder (logs)
    this.keep = keep;
    this.bed = null;
    this.agents = [];
    this.agentErrors = [];
  }

  async create() {
    const ports = {};
    for (const n of HOST_NAMES) ports[n] = await freePort();
    const out = path.join(this.dir, 'bed.json');
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(this.root, 'test/e2e/bed-setup.ts'), out, JSON.stringify(ports)], {
      cwd: this.root,
      env: { ...process.env, NIXFLEET_REPO_ROOT: this.root },
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (r.status !== 0) throw new Error(`creating the Nix test bed failed (exit ${r.status}): ${(r.stderr || r.error?.message || '').trim().slice(-2000)}`);
    this.bed = JSON.parse(readFileSync(out, 'utf8'));
    // A loopback port where nothing listens: the extension must show this host offline.
    this.offlinePort = await freePort();
    return this.bed;
  }

  /** Start one agent per host; hosts whose agent does not come up are recorded, not thrown. */
  async startAgents() {
    await Promise.all(
      this.bed.hosts.map(async (h) => {
        try {
          await this.startAgent(h.name);
        } catch (err) {
          this.agentErrors.push(err.message);
        }
      }),
    );
    return this.agentErrors;
  }

  /** Start (or restart) the agent of one host and wait until it accepts connections. */
  async startAgent(name) {
    const h = this.host(name);
    const agentJs = path.join(this.root, 'dist', 'agent.js');
    const env = { ...process.env, PATH: this.bed.path };
    delete env.NODE_OPTIONS;
    const logFile = path.join(this.dir, `agent-${h.name.replace('@', '-at-')}.log`);
    const proc = startGroup(`agent ${h.name}`, [process.execPath, agentJs, 'serve', '--config', h.config], {
      cwd: h.checkout,
      env,
      logFile,
    });
    proc.host = h.name;
    this.agents.push(proc);
    try {
      await waitFor(`agent ${h.name} listening on 127.0.0.1:${h.port}`, async () => {
        if (proc.exitedAt) {
          const log = readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join(' | ');
          throw Object.assign(new Error(`agent exited: ${log}`), { fatal: true });
        }
        return canConnect(h.port);
      }, { timeoutMs: 15_000, everyMs: 100 });
    } catch (err) {
      throw new Error(`agent for ${h.name} (node dist/agent.js serve --config ${h.config}) did not start: ${err.message}`);
    }
    return proc;
  }

  /** Stop the agent of one host (SIGTERM to its process group, SIGKILL after a grace time). */
  async stopAgent(name) {
    const procs = this.agents.filter((p) => p.host === name);
    this.agents = this.agents.filter((p) => p.host !== name);
    await Promise.all(procs.map((p) => stopGroup(p)));
  }

  /** The hosts as C's suite wants them in NIXFLEET_E2E_HOSTS (docs/extension.md). */
  e2eHosts({ withOffline = true } = {}) {
    const list = this.bed.hosts.map((h) => ({
      name: h.name,
      address: h.address,
      platform: h.platform,
      token: this.bed.token,
      profile: h.profile,
      stateDir: h.stateDir,
      // The agent config file: the broker suite (test/extension/suite/06-broker) serves the host through a broker from a copy.
      config: h.config,
    }));
    if (withOffline) list.push({ name: OFFLINE_HOST, address: `ws://127.0.0.1:${this.offlinePort}`, platform: 'nixos', token: this.bed.token });
    return list;
  }

  /** The `nixfleet.hosts` setting: addresses only, never tokens. */
  hostsSetting() {
    return this.e2eHosts().map(({ name, address, platform }) => ({ name, address, platform }));
  }

  host(name) {
    const h = this.bed.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`the demo fleet has no host ${name}`);
    return h;
  }

  /** The generation number the host's profile points at, read from the link on disk. */
  currentGeneration(name) {
    const h = this.host(name);
    const target = readlinkSync(h.profile);
    const m = /-(\d+)-link$/.exec(target);
    if (!m) throw new Error(`profile ${h.profile} points at ${target}, not at a generation link`);
    return Number(m[1]);
  }

  /** The store path the host's current generation points at (profile → P-N-link → store). */
  currentStorePath(name) {
    const h = this.host(name);
    return readlinkSync(path.join(path.dirname(h.profile), readlinkSync(h.profile)));
  }

  /** Run git in `cwd` (e.g. the workstation, or the bare origin); its trimmed stdout. */
  git(cwd, ...args) {
    const r = spawnSync('git', ['-c', 'user.name=NixFleet e2e', '-c', 'user.email=e2e@example.invalid', ...args], { cwd, encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')} in ${cwd} failed (exit ${r.status}): ${(r.stderr || r.error?.message || '').trim()}`);
    return r.stdout.trim();
  }

  /**
   * Commit `changes` ({ 'path/in/repo': content }) in the workstation clone (the workspace
   * code-server has open) and push it to the bed's bare origin; returns the commit hash.
   */
  commit(changes, message) {
    const ws = this.bed.workstation;
    const git = (...args) => this.git(ws, ...args);
    for (const [rel, content] of Object.entries(changes)) {
      const p = path.join(ws, rel);
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, content);
    }
    git('add', '-A');
    git('commit', '-q', '-m', message);
    git('push', '-q', 'origin', 'HEAD:main');
    return git('rev-parse', 'HEAD');
  }

  async stop() {
    await Promise.all(this.agents.map((p) => stopGroup(p)));
    this.agents = [];
    if (this.bed && !this.keep && existsSync(this.bed.root)) rmSync(this.bed.root, { recursive: true, force: true });
  }
}
