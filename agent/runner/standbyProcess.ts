// The standby worker: `nixfleet-agent standby --state-dir DIR --standby ID`, started by a
// serving agent ahead of its next op (standby.ts), exactly as an op's worker is started.
// It loads the worker's code and asks Nix its version, says it is ready, and waits. When
// its agent hands it an op (standbyHandoff.ts) it claims it and runs it as that op's
// worker, the same code as `run-op`: same journal lines, same records. It belongs to one
// agent process: once that agent is gone, or retired it, it exits without an op.
import { linkSync, rmSync } from 'node:fs';
import path from 'node:path';
import { AGENT_VERSION } from '../version';
import { opDir } from '../journal/paths';
import { processRunning, selfIdentity } from './process';
import { claim, readAhead, readOwner, standbyDir, standbyLog, writeReady } from './standbyHandoff';
import { dropHeadStart, type HeadStart } from './headStart';
import { parseConfig, type AgentConfig } from '../config';

/** How often a standby looks for a handoff it missed and whether its agent still runs. */
export const STANDBY_CHECK_MS = 1000;

/** Wait for an op; resolves with the exit code (0 when it ended without one). */
export async function runStandby(stateDir: string, id: string): Promise<number> {
  const dir = standbyDir(stateDir, id);
  const owner = readOwner(dir);
  // Not started by an agent of this version (or retired already): this is not its code.
  if (!owner || owner.version !== AGENT_VERSION) return 0;
  let over = false;
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  const quit = (code: number) => {
    over = true;
    resolveDone(code);
  };
  const onTerm = () => quit(0);
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onTerm);
  process.on('SIGHUP', () => {}); // the agent's terminal may vanish; the standby stays its agent's
  // The agent's config, for what is asked and started ahead for its ops (undefined: nothing is).
  const config = ownerConfig(owner.config);
  let worker: typeof import('./worker') | undefined;
  // The op its agent told it of before the handoff, and that op's first command (a build).
  let ahead: { op: string; started: Promise<HeadStart | undefined> } | undefined;
  const stopAhead = new AbortController();
  let claimedOp: string | undefined;
  const check = () => {
    if (claimedOp || over) return;
    if (!ahead && worker && config) {
      const notice = readAhead(dir);
      if (notice) {
        ahead = { op: notice.op, started: worker.startFirstCommand({ ...notice, config }, stopAhead.signal) };
        ahead.started.catch(() => {});
      }
    }
    const opId = claim(dir);
    if (opId) {
      claimedOp = opId;
      clearInterval(timer);
      process.off('SIGUSR2', check);
      process.on('SIGUSR2', () => {}); // a late nudge must not kill an op's worker (SIGUSR2's default)
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onTerm);
      // Another op's command (never, as one agent tells and hands one op): its worker stops it.
      const started = ahead?.op === opId ? ahead.started : ahead?.started.then(dropHeadStart);
      ahead = undefined;
      void runClaimed(stateDir, dir, opId, started).then(resolveDone, (err: unknown) => {
        process.stderr.write(`nixfleet-agent: standby ${id}: op ${opId}: ${(err as Error).message}\n`);
        resolveDone(1);
      });
      return;
    }
    // Retired (the directory moved), or its agent is gone: nobody hands it an op any more.
    // It leaves its directory to the next agent (which retires every standby it did not
    // start): it writes nothing in the state directory once its agent is gone.
    if (!readOwner(dir) || !processRunning(owner.pid, owner.startTime)) quit(0);
  };
  const timer = setInterval(check, STANDBY_CHECK_MS);
  // Load what an op's worker runs, and what it would ask first, before any op is waiting.
  worker = await import('./worker');
  await worker.preloadWorker(path.join(dir, 'rehearsal'), { stateDir, flake: config?.flake });
  await worker.rehearseSpawns(() => claimedOp !== undefined || over);
  process.on('SIGUSR2', check);
  // The timer may have claimed an op while it loaded (it then runs it, and removed the
  // directory), or it was told to stop: nothing more to say then.
  if (!claimedOp && !over) {
    const me = selfIdentity();
    if (!processRunning(owner.pid, owner.startTime)) quit(0); // its agent went while it loaded
    else {
      try {
        writeReady(dir, { pid: me.pid, startTime: me.startTime, unit: process.env.NIXFLEET_OP_UNIT, version: AGENT_VERSION });
        check();
      } catch {
        quit(0); // retired while it loaded (the directory is gone)
      }
    }
  }
  const code = await done;
  clearInterval(timer);
  // Retired, or its agent is gone: what it started for an op it never ran is stopped.
  if (ahead) {
    stopAhead.abort();
    await dropHeadStart(await ahead.started.catch(() => undefined));
  }
  return code;
}

/** The agent's config as its owner record carries it; undefined when it is not one this code reads. */
function ownerConfig(raw: unknown): AgentConfig | undefined {
  if (raw === undefined) return undefined;
  try {
    return parseConfig(raw, 'the standby owner record');
  } catch {
    return undefined;
  }
}

async function runClaimed(stateDir: string, dir: string, opId: string, ahead: Promise<HeadStart | undefined> | undefined): Promise<number> {
  const { runWorker } = await import('./worker');
  const recorded = () => {
    // This process's stderr (a crash) goes to the op's worker.log, as a cold worker's does.
    try {
      linkSync(standbyLog(dir), path.join(opDir(stateDir, opId), 'worker.log'));
    } catch {
      /* no log yet, or the op has one: its stderr stays in the standby's */
    }
    // Used up. Removed only now that worker.json names this process: until then the agent
    // reads who claimed the op from standby.json. On the next turn: the op's set-up comes first.
    setImmediate(() => rmSync(dir, { recursive: true, force: true }));
  };
  return runWorker(stateDir, opId, { ahead, recorded });
}
