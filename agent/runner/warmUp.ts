// A standby worker's rehearsal: before any op is handed to it, it runs once, on scratch
// files of its own, the steps of a worker around an op's commands — read the notice of an
// op ahead of its handoff and make its first command, read a request and an
// op record, open, write and close a journal, take and release the host lock, move an
// activation record through a switch's phases, record a revision and a check outcome, audit
// the end — and asks git (through execFile and simple-git). Node compiles a function the
// first time it runs; in a fresh process those first runs cost a switch ~10 ms. Here they
// cost nothing an op waits for. Nothing outside `dir` is read or written (the profile named
// is one in `dir` that does not exist), and `dir` is removed afterwards.
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { opParams, type OpInfo } from '../../protocol';
import { parseConfig } from '../config';
import { openLocalGit, remoteToolEnv } from '../git/env';
import { createOpDir, readOpInfo, writeOpInfo } from '../journal/opStore';
import { journalFile } from '../journal/paths';
import { JournalWriter } from '../journal/writer';
import { readRequest, writeRequest, writeWorker } from './request';
import { selfIdentity } from './process';
import { claimLock, releaseLock } from './lock';
import { auditOp } from '../journal/audit';
import { currentGeneration } from '../nix/profile';
import { activationStep, clearActivation, profileChangeStarts, readActivation } from '../state/activation';
import { recordChecks, recordRevision, syncMetadata } from '../state/metadata';
import { AGENT_VERSION } from '../version';
import { firstCommandOf } from '../ops/registry';
import { readAhead, writeAhead } from './standbyHandoff';
import { runCommand } from '../exec';

const REHEARSAL_OP = 'standby-rehearsal';

/** Rehearse a worker's steps under `dir` (created, then removed); never throws: false when a step failed. */
export async function rehearseWorker(dir: string): Promise<boolean> {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch {
    return false; // its standby was retired (the parent moved), or the name is taken: not ours to use
  }
  try {
    const config = parseConfig({ host: 'rehearsal', flake: dir, platform: 'nixos', stateDir: dir }, 'the standby rehearsal');
    // Told of an op ahead of its handoff (standbyHandoff.ts): the notice read, the op's first command made (not run).
    writeAhead(dir, { op: REHEARSAL_OP, kind: 'switch', params: {} });
    const notice = readAhead(dir);
    if (notice) firstCommandOf({ ...notice, config });
    createOpDir(dir, REHEARSAL_OP);
    const client = { name: 'standby', auth: 'rehearsal' };
    writeRequest(dir, REHEARSAL_OP, { kind: 'switch', params: opParams.switch.parse({}), client, config });
    const info: OpInfo = { id: REHEARSAL_OP, kind: 'switch', params: {}, state: 'running', client, startedAt: new Date().toISOString(), lastSeq: 0, agentVersion: AGENT_VERSION };
    writeOpInfo(dir, info);
    const me = selfIdentity();
    writeWorker(dir, REHEARSAL_OP, { pid: me.pid, startTime: me.startTime });
    readRequest(dir, REHEARSAL_OP);
    readOpInfo(dir, REHEARSAL_OP);
    const journal = JournalWriter.open(journalFile(dir, REHEARSAL_OP));
    journal.append('info', 'rehearsal');
    claimLock(dir, REHEARSAL_OP, 'switch', info.startedAt);
    currentGeneration(path.join(dir, 'profile'));
    const to = { generation: 1, target: `/nix/store/${'0'.repeat(32)}-rehearsal` };
    profileChangeStarts(dir, REHEARSAL_OP, undefined, to);
    for (const phase of ['activating', 'activated'] as const) activationStep(dir, REHEARSAL_OP, phase, to);
    recordRevision(dir, to.target, '0'.repeat(40));
    recordChecks(dir, to.generation, to.target, { passed: true, at: new Date().toISOString() });
    syncMetadata();
    journal.close();
    const final: OpInfo = { ...info, state: 'succeeded', endedAt: new Date().toISOString(), exit: 0, result: { generationAfter: 1 } };
    writeOpInfo(dir, final);
    if (readActivation(dir)?.op === REHEARSAL_OP) clearActivation(dir);
    auditOp(dir, final);
    releaseLock(dir, REHEARSAL_OP);
    // `dir` is no repository: git answers from the user's and the system's config alone.
    await remoteToolEnv(dir);
    await openLocalGit(dir).raw(['--version']);
    return true;
  } catch {
    // A rehearsal that fails costs the op only the time it would have saved.
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** How many times a standby starts a program while it waits: where starting one stops getting cheaper. */
export const SPAWN_REHEARSALS = 16;

/**
 * Before the standby says it is ready: start a program that does nothing (`/bin/sh -c :`,
 * present on NixOS and macOS) through the same code as an op's commands (exec.ts
 * runCommand), SPAWN_REHEARSALS times, one at a time, unless `stop()` says the standby has
 * an op or must go. Starting a command costs a fresh process ~2 ms on its first runs and
 * ~1.2 ms once Node compiled that code for speed (~15 runs), and an op starts three or four,
 * each on its path; here the runs cost the standby's start ~40 ms. Never throws.
 */
export async function rehearseSpawns(stop: () => boolean): Promise<void> {
  for (let i = 0; i < SPAWN_REHEARSALS && !stop(); i++) {
    try {
      await runCommand(['/bin/sh', '-c', ':'], () => {}, { timeoutMs: 5000 });
    } catch {
      return; // no /bin/sh here: the op's commands start as they would have
    }
  }
}
