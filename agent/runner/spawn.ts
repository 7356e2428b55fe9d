// Start an op's worker outside the caller's process group, so that neither an agent
// restart nor a closed terminal takes the op down with it: as a systemd transient unit
// where systemd runs (it then also outlives the agent's own cgroup being stopped), else
// as a detached child in its own session.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { opDir } from '../journal/paths';

export interface SpawnedWorker {
  /** The worker's pid when spawned directly; under systemd the worker records its own. */
  pid?: number;
  unit?: string;
  /** Resolves when a directly spawned worker exits (not available under systemd). */
  exited?: Promise<void>;
}

/** The argv that runs this agent again: node [loader flags] <entry script>. */
export function agentCommand(): string[] {
  const entry = process.env.NIXFLEET_AGENT_ENTRY ?? process.argv[1];
  if (!entry) throw new Error('internal: cannot tell which script runs the agent (process.argv[1] is empty)');
  // Keep loader flags (tsx when run from source), drop inspector flags that would clash on a port.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--inspect'));
  return [process.execPath, ...execArgv, path.resolve(entry)];
}

function useSystemd(): boolean {
  if (process.env.NIXFLEET_NO_SYSTEMD === '1') return false;
  return existsSync('/run/systemd/system') && process.getuid?.() === 0;
}

export function spawnWorker(stateDir: string, opId: string): SpawnedWorker {
  const argv = [...agentCommand(), 'run-op', '--state-dir', stateDir, '--op', opId];
  // The worker's own stderr (a crash before its journal opens) goes beside the journal.
  const logPath = path.join(opDir(stateDir, opId), 'worker.log');
  if (useSystemd()) {
    const unit = `nixfleet-op-${opId}`;
    const env = ['PATH', 'HOME', 'NIX_CONFIG', 'NIX_PATH', 'LANG', 'NIXFLEET_AGENT_ENTRY']
      .filter((k) => process.env[k] !== undefined)
      .map((k) => `--setenv=${k}=${process.env[k]}`);
    const r = spawnSync(
      'systemd-run',
      ['--collect', '--quiet', `--unit=${unit}`, `--setenv=NIXFLEET_OP_UNIT=${unit}`, '--property=KillMode=control-group',
        `--property=StandardError=append:${logPath}`, ...env, '--', ...argv],
      { encoding: 'utf8' },
    );
    if (r.status === 0) return { unit };
    // systemd present but unusable (no D-Bus, container): fall back to a detached process.
  }
  const errFd = openSync(logPath, 'a', 0o600);
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
