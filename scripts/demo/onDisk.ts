// What the checks read on disk to confirm a command did what it said: the profile links,
// the system a profile points at, the host's checkout, the agent's op record and journal.
import { execFile } from 'node:child_process';
import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { journalFile } from '../../agent/journal/paths';
import { readAllLines } from '../../agent/journal/reader';
import { readOpInfo } from '../../agent/journal/opStore';
import type { OpInfo, Platform } from '../../protocol';

const execFileP = promisify(execFile);

/** The generation the profile link points at (P -> P-N-link). */
export function profileGeneration(profile: string): number {
  const m = /-(\d+)-link$/.exec(readlinkSync(profile));
  if (!m) throw new Error(`${profile} does not point at a generation link`);
  return Number(m[1]);
}

/** The store path of the system the profile points at. */
export function profileSystem(profile: string): string {
  return realpathSync(profile);
}

const VERSION_FILE: Record<Platform, string> = { nixos: 'nixos-version', darwin: 'darwin-version', 'home-manager': 'hm-version' };

/** The system version of the generation the profile points at (its version file). */
export function systemVersion(h: { platform: Platform; profile: string }): string {
  return readFileSync(path.join(profileSystem(h.profile), VERSION_FILE[h.platform]), 'utf8').trim();
}

export async function gitIn(dir: string, ...args: string[]): Promise<string> {
  return (await execFileP('git', args, { cwd: dir })).stdout.trim();
}

/** The agent's own record of an op (op.json in its state dir). */
export function opRecord(stateDir: string, opId: string): OpInfo {
  const info = readOpInfo(stateDir, opId);
  if (!info) throw new Error(`the agent has no record of op ${opId} in ${stateDir}`);
  return info;
}

/** The op's journal as the agent wrote it (journal.jsonl), one string. */
export async function journalText(stateDir: string, opId: string): Promise<string> {
  return (await readAllLines(journalFile(stateDir, opId))).map((l) => l.text).join('\n');
}
