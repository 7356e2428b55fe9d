// One demo host's agent, kept running the way its service manager would (the NixOS module's
// systemd unit, launchd on macOS): started from the nixfleet-agent package of the host's
// current system, restarted when it exits (Restart=always, bounded), and restarted by the
// activation of a system whose agent package differs (as switch-to-configuration restarts
// a changed unit). That is what lets Update Agent's --verify see a new version.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { canConnect, stopChild } from './process';

const PACKAGE_PREFIX = 'nixfleet-agent-';
/** More restarts than this within RESTART_WINDOW_MS: give up, like systemd's StartLimitBurst. */
const RESTART_LIMIT = 5;
const RESTART_WINDOW_MS = 30_000;
const START_TIMEOUT_MS = 20_000;

/** The nixfleet-agent package a system (store path) carries in sw/, resolved to its store path. */
export function agentPackageOf(system: string): string {
  const entry = readdirSync(path.join(system, 'sw')).find((e) => e.startsWith(PACKAGE_PREFIX));
  if (!entry) throw new Error(`${system} carries no ${PACKAGE_PREFIX}* package in sw/: it was not built from the demo nixcfg`);
  return realpathSync(path.join(system, 'sw', entry));
}

/** "nixfleet-agent-0.1.0+demo.1" → "0.1.0+demo.1" (the store path's name after the hash). */
export function packageVersion(pkg: string): string {
  const name = path.basename(pkg).replace(/^[0-9a-z]{32}-/, '');
  return name.startsWith(PACKAGE_PREFIX) ? name.slice(PACKAGE_PREFIX.length) : name;
}

export interface AgentServiceOptions {
  host: string;
  dir: string;
  profile: string;
  config: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
  port: number;
  log: (msg: string) => void;
}

export class AgentService {
  private child: ChildProcess | undefined;
  private stopping = false;
  private restarts: number[] = [];
  /** The package the running agent came from. */
  package = '';

  constructor(private readonly o: AgentServiceOptions) {}

  private get pidFile(): string {
    return path.join(this.o.dir, 'agent.pid');
  }

  private get packageFile(): string {
    return path.join(this.o.dir, 'agent.package');
  }

  get version(): string {
    return packageVersion(this.package);
  }

  /** Start the agent of the current system and wait until it listens. */
  async start(): Promise<void> {
    const pkg = agentPackageOf(realpathSync(this.o.profile));
    const fd = openSync(this.o.logFile, 'a');
    const child = spawn(path.join(pkg, 'bin', 'nixfleet-agent'), ['serve', '--config', this.o.config], {
      cwd: this.o.cwd,
      env: this.o.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.child = child;
    this.package = pkg;
    writeFileSync(this.pidFile, `${child.pid}\n`);
    writeFileSync(this.packageFile, `${pkg}\n`);
    child.once('exit', () => {
      if (this.child === child && !this.stopping) void this.restart();
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const tail = readFileSync(this.o.logFile, 'utf8').trim().split('\n').slice(-5).join('\n  ');
        throw new Error(`the agent for ${this.o.host} exited at start (${pkg}/bin/nixfleet-agent serve --config ${this.o.config}); its log ${this.o.logFile} ends:\n  ${tail}`);
      }
      if (await canConnect(this.o.port)) return;
      if (Date.now() > deadline) throw new Error(`the agent for ${this.o.host} is not listening on 127.0.0.1:${this.o.port} after ${START_TIMEOUT_MS / 1000} s; see ${this.o.logFile}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async restart(): Promise<void> {
    const now = Date.now();
    this.restarts = [...this.restarts.filter((t) => now - t < RESTART_WINDOW_MS), now];
    if (this.restarts.length > RESTART_LIMIT) {
      this.o.log(`${this.o.host}: the agent exited ${this.restarts.length} times within ${RESTART_WINDOW_MS / 1000} s; not restarting it again (see ${this.o.logFile})`);
      return;
    }
    const before = this.version;
    try {
      await this.start();
      this.o.log(`${this.o.host}: agent restarted from its current system (${before === this.version ? `still ${before}` : `${before} → ${this.version}`})`);
    } catch (err) {
      this.o.log(`${this.o.host}: restarting the agent failed: ${(err as Error).message}`);
    }
  }

  /**
   * The test bed's activation hook (run by every activation script with the system being
   * activated): when that system's agent package is not the running one, stop the agent; the
   * restart above starts the new one. darwin runs activate-user before activate: act once.
   */
  activationHook(): string {
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    return `# Demo service manager (scripts/demo/agentService.ts): restart nixfleet-agent when its package changed.
[ "$1" = activate-user ] && exit 0
new=$(readlink -f "$NIXFLEET_TESTBED_STORE_PATH"/sw/${PACKAGE_PREFIX}*)
cur=$(cat ${q(this.packageFile)} 2>/dev/null)
[ "$new" = "$cur" ] && exit 0
echo "nixfleet-agent: package changed ($(basename "$cur") -> $(basename "$new")): restarting the agent"
kill -TERM "$(cat ${q(this.pidFile)})" 2>/dev/null || true
`;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.child) await stopChild(this.child);
  }
}
