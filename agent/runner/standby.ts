// The serving agent's standby worker: one worker process started ahead of the next op and
// already loaded (standbyProcess.ts), so an accepted op starts in a process that is ready
// rather than in a fresh node that first loads the agent (~150 ms). It is started exactly
// as an op's worker is (detached in its own session, or as a systemd transient unit), so
// the op it runs outlives the agent as any op does. An op is handed to it through files
// in the 0700 state directory (standbyHandoff.ts); when it does not claim the op within
// CLAIM_WAIT_MS the agent revokes the handoff and starts the op's worker cold, as without
// a standby. A standby serves one op; the next one starts when that op ends. In mode "auto"
// (the default) a standby is kept only while controllers run ops on the host: from an
// authenticated controller's op.start until standbyIdleTimeout after the last one.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import type { OpKind } from '../../protocol';
import type { AgentConfig } from '../config';
import { AGENT_VERSION } from '../version';
import { processRunning, selfIdentity } from './process';
import { readWorker, writeWorker } from './request';
import { agentCommand, spawnDetached, SYSTEMD_RUN_TIMEOUT_MS, systemdRunArgs, systemdRunFailure, useSystemd, type SpawnedWorker } from './spawn';
import {
  claimed,
  handOff,
  listStandbys,
  readReady,
  retire,
  revoke,
  standbyDir,
  standbyLog,
  standbyRoot,
  standbyUnit,
  sweepRetired,
  takeBack,
  writeAhead,
  writeOwner,
} from './standbyHandoff';

/** How long a handed op may wait for its standby to claim it before the agent starts a cold worker. */
export const CLAIM_WAIT_MS = 1000;

interface Standby {
  id: string;
  dir: string;
  /** The standby's pid while it has not said it is ready (direct launch only). */
  pid?: number;
  exited?: Promise<void>;
  gone: boolean;
  /** The agent's entry script when the standby was started: a changed file means changed code. */
  entry: string | undefined;
  /** The op it was told of ahead of its handoff (startAhead). */
  ahead?: string;
}

export class StandbyWorker {
  private current: Standby | undefined;
  private closed = false;
  private warnedSystemd = false;
  /** Mode "auto": performance.now() until which a standby is wanted (monotonic: a clock step changes nothing). */
  private wantedUntil = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: AgentConfig,
    private readonly mode: 'auto' | 'always',
    private readonly log: (text: string) => void,
    /** Whether an op runs on this host now: a standby's loading must not compete with it. */
    private readonly opRunning: () => boolean = () => false,
  ) {}

  /**
   * Retire every standby this agent did not start (an earlier agent's, older code), then
   * start one if wanted. An op an earlier agent handed to one of them that it never claimed
   * is given to `unclaimed`, which starts its worker cold: that agent answered op.start.
   */
  start(unclaimed: (opId: string) => void): void {
    const orphans: string[] = [];
    for (const id of listStandbys(this.config.stateDir)) {
      const opId = takeBack(standbyDir(this.config.stateDir, id));
      retire(this.config.stateDir, id);
      if (opId) orphans.push(opId);
    }
    sweepRetired(this.config.stateDir);
    for (const opId of orphans) {
      this.log(`op ${opId} was handed to a standby worker of an earlier agent, which never took it; starting the op's worker cold`);
      unclaimed(opId);
    }
    this.replenish();
  }

  /**
   * An authenticated controller started an op (mode "auto"): keep a standby from now until
   * standbyIdleTimeout after the last such start. Started now unless an op runs (it then
   * starts when the op ended).
   */
  wanted(): void {
    if (this.closed || this.mode !== 'auto') return;
    this.wantedUntil = performance.now() + this.config.standbyIdleTimeout * 1000;
    if (!this.idleTimer) this.armIdle(this.config.standbyIdleTimeout * 1000);
    this.replenish();
  }

  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(() => this.idle(), ms);
    this.idleTimer.unref();
  }

  /** Mode "auto", no controller's op started for standbyIdleTimeout: retire the waiting standby. */
  private idle(): void {
    this.idleTimer = undefined;
    if (this.closed) return;
    const left = this.wantedUntil - performance.now();
    if (left > 0) return this.armIdle(left);
    const standby = this.current;
    this.current = undefined;
    if (standby) this.retire(standby);
  }

  private isWanted(): boolean {
    return this.mode === 'always' || performance.now() < this.wantedUntil;
  }

  /** Start a standby unless one waits already, none is wanted, or an op runs. */
  replenish(): void {
    if (this.closed || this.current || !this.isWanted() || this.opRunning()) return;
    const { stateDir } = this.config;
    const id = randomBytes(6).toString('hex');
    const dir = standbyDir(stateDir, id);
    let argv: string[];
    try {
      mkdirSync(standbyRoot(stateDir), { recursive: true, mode: 0o700 });
      mkdirSync(dir, { mode: 0o700 });
      const me = selfIdentity();
      writeOwner(dir, { pid: me.pid, startTime: me.startTime, version: AGENT_VERSION, config: this.config });
      argv = [...agentCommand(), 'standby', '--state-dir', stateDir, '--standby', id];
    } catch (err) {
      this.log(`cannot start a standby worker in ${dir} (${(err as Error).message}); ops start their worker cold`);
      return;
    }
    const standby: Standby = { id, dir, gone: false, entry: entryIdentity() };
    this.current = standby;
    if (useSystemd(this.config.workerLauncher)) this.launchUnit(standby, argv);
    else this.launchDirect(standby, argv);
  }

  private launchDirect(standby: Standby, argv: string[]): void {
    try {
      const spawned = spawnDetached(argv, standbyLog(standby.dir));
      standby.pid = spawned.pid;
      standby.exited = spawned.exited?.then(() => {
        standby.gone = true;
      });
    } catch (err) {
      this.log(`cannot start a standby worker (${(err as Error).message}); ops start their worker cold`);
      standby.gone = true;
    }
  }

  /** As a transient unit of its own, without holding the agent while systemd-run runs. */
  private launchUnit(standby: Standby, argv: string[]): void {
    const unit = standbyUnit(standby.id);
    execFile('systemd-run', systemdRunArgs(unit, argv, standbyLog(standby.dir)), { timeout: SYSTEMD_RUN_TIMEOUT_MS, encoding: 'utf8' }, (error, _stdout, stderr) => {
      if (!error) return;
      const e = error as NodeJS.ErrnoException & { code?: string | number; signal?: NodeJS.Signals | null };
      if (!this.warnedSystemd) {
        this.warnedSystemd = true;
        const why = systemdRunFailure(typeof e.code === 'string' ? e : undefined, typeof e.code === 'number' ? e.code : null, e.signal ?? null, stderr);
        this.log(`could not start the standby worker as systemd unit ${unit}: ${why}; starting standby workers as detached processes instead`);
      }
      if (this.current === standby && !this.closed) this.launchDirect(standby, argv);
    });
  }

  /**
   * The agent holds the host lock for op `opId` and is recording it: tell the ready standby
   * now, so that it starts the op's first command (a build, which changes nothing on the
   * host) while the op is recorded and handed to it (~3 ms sooner on a switch). Nothing
   * when no ready standby of this code waits: the op then starts as it would without this.
   */
  startAhead(opId: string, kind: OpKind, params: Record<string, unknown>): void {
    const standby = this.current;
    if (!standby || this.closed || standby.gone || standby.ahead !== undefined || entryIdentity() !== standby.entry) return;
    const ready = readReady(standby.dir);
    if (!ready || !processRunning(ready.pid, ready.startTime)) return;
    try {
      if (!writeAhead(standby.dir, { op: opId, kind, params })) return;
    } catch {
      return; // the handoff finds out what is wrong with the directory
    }
    standby.ahead = opId;
    try {
      process.kill(ready.pid, 'SIGUSR2');
    } catch {
      /* gone: the handoff starts the op cold */
    }
  }

  /** Op `opId` was not accepted after all: the standby told of it is retired, which stops what it started. */
  withdrawAhead(opId: string): void {
    const standby = this.current;
    if (!standby || standby.ahead !== opId) return;
    this.current = undefined;
    this.retire(standby);
    this.replenish();
  }

  /**
   * Hand op `opId` to the standby. Resolves with its worker once the standby claimed the op,
   * or undefined when the op needs a cold worker (no standby, its code changed, it did not
   * claim in time: then no standby can claim it any more). Throws only when it cannot tell
   * whether the standby claimed the op (its directory unusable): no second worker may start then.
   */
  async handOff(opId: string): Promise<SpawnedWorker | undefined> {
    const standby = this.current;
    if (!standby || this.closed) return undefined;
    this.current = undefined; // one op per standby, whatever happens below
    const { stateDir } = this.config;
    if (standby.gone || entryIdentity() !== standby.entry) {
      this.retire(standby);
      return undefined;
    }
    try {
      if (!handOff(standby.dir, opId)) return undefined; // retired meanwhile by another agent
    } catch (err) {
      // Not handed over: no standby can claim it, a cold worker runs it.
      this.log(`standby worker ${standby.id} not used for op ${opId}: ${(err as Error).message}`);
      this.retire(standby);
      return undefined;
    }
    // Once standby.json exists, its SIGUSR2 handler is in place; before that it looks for
    // the handoff by itself as soon as it is ready.
    const ready = readReady(standby.dir);
    if (ready && processRunning(ready.pid, ready.startTime)) {
      try {
        process.kill(ready.pid, 'SIGUSR2');
      } catch {
        /* gone: it does not claim, the handoff is revoked below */
      }
    }
    if (!(await waitForClaim(standby)) && revoke(standby.dir)) {
      this.log(`standby worker ${standby.id} did not take op ${opId} within ${CLAIM_WAIT_MS} ms; starting the op's worker cold`);
      this.retire(standby);
      return undefined;
    }
    // Claimed: its worker records itself at once; recorded here too so that a standby
    // killed right after claiming is found dead (and the op marked interrupted) at once.
    // (It removes its directory only after writing worker.json.)
    let worker = readWorker(stateDir, opId);
    if (!worker) {
      const claimer = readReady(standby.dir);
      if (claimer) {
        worker = { pid: claimer.pid, startTime: claimer.startTime, unit: claimer.unit };
        writeWorker(stateDir, opId, worker);
      }
    }
    return { pid: worker?.pid, unit: worker?.unit, exited: standby.exited };
  }

  private retire(standby: Standby): void {
    try {
      retire(this.config.stateDir, standby.id, { pid: standby.gone ? undefined : standby.pid });
    } catch (err) {
      this.log(`cannot retire standby worker ${standby.id} (${(err as Error).message}); it exits once this agent is gone`);
    }
  }

  /** Retire the waiting standby (the agent stops); an op a standby already runs goes on. */
  close(): void {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const standby = this.current;
    this.current = undefined;
    if (standby) this.retire(standby);
  }
}

/** True once the standby claimed the handoff; false after CLAIM_WAIT_MS or when it exited. */
function waitForClaim(standby: Standby): Promise<boolean> {
  if (claimed(standby.dir)) return Promise.resolve(true);
  return new Promise((resolve) => {
    let watcher: FSWatcher | undefined;
    const finish = (won: boolean) => {
      clearInterval(poll);
      clearTimeout(deadline);
      watcher?.close();
      resolve(won);
    };
    const look = () => {
      if (claimed(standby.dir)) finish(true);
      else if (standby.gone) finish(false);
    };
    // The rename shows up at once through inotify; the poll covers file systems without it.
    const poll = setInterval(look, 20);
    const deadline = setTimeout(() => finish(claimed(standby.dir)), CLAIM_WAIT_MS);
    try {
      watcher = watch(standby.dir, { persistent: false }, look);
      watcher.on('error', () => watcher?.close());
    } catch {
      watcher = undefined;
    }
    void standby.exited?.then(look);
  });
}

/** The agent's entry script's identity (path, inode, size, mtime): it changes when the agent's code is replaced. */
function entryIdentity(): string | undefined {
  const entry = agentCommand().at(-1)!;
  try {
    const st = statSync(entry);
    return `${entry} ${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return undefined;
  }
}
