// What the workspace's own nixcfg checkout says, to compare hosts against: its commit and
// the hash of its flake.lock. Read with git (argv) and node:fs, only after the view is shown.
import { flakeLockHash, lockedInputs } from '../../protocol';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

export interface WorkspaceInfo {
  dir: string;
  /** HEAD commit, when the workspace is a git checkout. */
  revision?: string;
  /** origin's view of the branch, when there is an upstream. */
  upstreamRevision?: string;
  /** sha256 (hex) of flake.lock, when there is one. */
  lockHash?: string;
  /** lockedInputs() of flake.lock: each root input's pin, to name the inputs a host's lock differs in. */
  lockInputs?: Record<string, string>;
  hasFlake: boolean;
}


/** Agents may report the hash as hex, "sha256:hex" or "sha256-base64" (SRI); compare as hex. */
export function normaliseHash(hash: string | undefined): string | undefined {
  if (!hash) return undefined;
  const h = hash.trim();
  const sri = /^sha256-([A-Za-z0-9+/=]+)$/.exec(h);
  if (sri) return Buffer.from(sri[1]!, 'base64').toString('hex');
  return h.replace(/^sha256:/, '').toLowerCase();
}

async function git(dir: string, args: string[]): Promise<string | undefined> {
  const r = await execa('git', ['-C', dir, ...args], { reject: false, stdin: 'ignore', timeout: 15_000 });
  return r.exitCode === 0 ? String(r.stdout).trim() : undefined;
}

export async function readWorkspaceInfo(dir: string): Promise<WorkspaceInfo> {
  const lock = await readFile(path.join(dir, 'flake.lock')).catch(() => undefined);
  const hasFlake = await readFile(path.join(dir, 'flake.nix')).then(() => true, () => false);
  const revision = await git(dir, ['rev-parse', '--verify', '--quiet', 'HEAD']);
  const upstreamRevision = revision ? await git(dir, ['rev-parse', '--verify', '--quiet', '@{upstream}']) : undefined;
  return {
    dir,
    revision: revision || undefined,
    upstreamRevision: upstreamRevision || undefined,
    lockHash: lock ? flakeLockHash(lock) : undefined,
    lockInputs: lock ? lockedInputs(lock) : undefined,
    hasFlake,
  };
}
