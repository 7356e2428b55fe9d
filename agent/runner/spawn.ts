// Start an op's worker outside the caller's process group, so that neither an agent
// restart nor a closed terminal takes the op down with it: as a systemd transient unit
// (it then also outlives the agent's own cgroup being stopped), or as a detached child
// in its own session. Which one is config `workerLauncher`: "auto" uses systemd-run
// where systemd runs and the agent is root, "systemd-run" and "direct" force one.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { APPEND } from '../state/noFollow';
import path from 'node:path';
import type { AgentConfig } from '../config';
import { opDir } from '../journal/paths';

export type WorkerLauncher = AgentConfig['workerLauncher'];

export interface SpawnedWorker {
  /** The worker's pid when spawned directly; under systemd the worker records its own. */
  pid?: number;
  unit?: string;
  /** Resolves when a directly spawned worker exits (not available under systemd). */
  exited?: Promise<void>;
}

/** The environment a systemd unit's worker gets (a unit does not inherit the caller's). */
export const SYSTEMD_ENV = [
  'PATH', 'HOME', 'LANG', 'LC_ALL', 'LOCALE_ARCHIVE', 'TZ', 'TZDIR',
  'NIX_CONFIG', 'NIX_PATH', 'NIX_REMOTE', 'NIX_SSL_CERT_FILE', 'SSL_CERT_FILE',
  'http_proxy', 'https_proxy', 'no_proxy', 'all_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY',
  'NIXFLEET_AGENT_ENTRY',
] as const;

/** systemd-run gets this long (a D-Bus that does not answer must not hold the agent forever), less than the 30 s a worker has to record itself. */
export const SYSTEMD_RUN_TIMEOUT_MS = 20_000;

/** The argv that runs this agent again: node [loader flags] <entry script>. */
export function agentCommand(): string[] {
  const entry = process.env.NIXFLEET_AGENT_ENTRY ?? process.argv[1];
  if (!entry) throw new Error('internal: cannot tell which script runs the agent (process.argv[1] is empty)');
  // Keep loader flags (tsx when run from source), drop inspector flags that would clash on a port.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--inspect'));
  return [process.execPath, ...execArgv, path.resolve(entry)];
}

/** "auto": systemd-run only where a systemd system manager runs and we may ask it (root). */
export function useSystemd(launcher: WorkerLauncher): boolean {
  if (launcher !== 'auto') return launcher === 'systemd-run';
  if (process.env.NIXFLEET_NO_SYSTEMD === '1') return false;
  return existsSync('/run/systemd/system') && process.getuid?.() === 0;
}

/** systemd-run's arguments for running `argv` as transient unit `unit` (an op's worker, or a standby worker). */
export function systemdRunArgs(unit: string, argv: readonly string[], logPath: string): string[] {
  const env = SYSTEMD_ENV.filter((k) => process.env[k] !== undefined).map((k) => `--setenv=${k}=${process.env[k]}`);
  return [
    '--collect',
    '--quiet',
    `--unit=${unit}`,
    // The worker records the unit it runs in (worker.json), for cancel and stop.
    `--setenv=NIXFLEET_OP_UNIT=${unit}`,
    // A cancel or stop takes the worker's whole tree (nix, activation, checks) with it.
    '--property=KillMode=control-group',
    `--property=StandardError=append:${logPath}`,
    ...env,
    '--',
    ...argv,
  ];
}

/** The unit an op's cold-started worker runs in under systemd. */
export const opUnit = (opId: string) => `nixfleet-op-${opId}`;

/**
 * Spawn op `opId`'s worker. `notice` hears why systemd-run was not used when it was
 * meant to be (the op then still runs, as a detached process).
 */
export function spawnWorker(stateDir: string, opId: string, launcher: WorkerLauncher = 'auto', notice: (text: string) => void = () => {}): SpawnedWorker {
  const argv = [...agentCommand(), 'run-op', '--state-dir', stateDir, '--op', opId];
  // The worker's own stderr (a crash before its journal opens) goes beside the journal.
  const logPath = path.join(opDir(stateDir, opId), 'worker.log');
  const unit = opUnit(opId);
  if (useSystemd(launcher)) {
    const r = spawnSync('systemd-run', systemdRunArgs(unit, argv, logPath), { encoding: 'utf8', timeout: SYSTEMD_RUN_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status === 0) return { unit };
    const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ETIMEDOUT') {
      // The unit may have started: a second worker would run the op twice. The op is
      // marked interrupted if its worker never records itself.
      notice(`systemd-run did not answer within ${SYSTEMD_RUN_TIMEOUT_MS / 1000} s starting unit ${unit} for op ${opId}; if the unit did not start, the op will be marked interrupted: check "systemctl status ${unit}" and D-Bus, or set workerLauncher to "direct"`);
      return { unit };
    }
    notice(
      `could not start op ${opId} as systemd unit ${unit}: ${systemdRunFailure(r.error, r.status, r.signal, r.stderr)}; running it as a detached process instead ` +
        `(it lives in the agent's own cgroup: a restart of the agent's service stops it unless the service has KillMode=process; ` +
        `set workerLauncher to "direct" to skip systemd-run)`,
    );
  }
  return spawnDetached(argv, logPath);
}

/** Why systemd-run did not start a unit, as a clause. */
export function systemdRunFailure(error: Error | undefined, status: number | null, signal: NodeJS.Signals | null, stderr: string): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'systemd-run is not on PATH';
  if (error) return `systemd-run could not be run (${error.message})`;
  return `systemd-run exited with ${status ?? signal}${stderr.trim() ? ': ' + stderr.trim().split('\n').slice(-1)[0] : ''}`;
}

/** `argv` as a detached process in its own session, its stderr appended to `logPath`. */
export function spawnDetached(argv: readonly string[], logPath: string): SpawnedWorker {
  const errFd = openSync(logPath, APPEND, 0o600);
  try {
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'ignore', errFd], env: process.env });
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    child.unref();
    return { pid: child.pid, exited };
  } finally {
    closeSync(errFd);
  }
}
