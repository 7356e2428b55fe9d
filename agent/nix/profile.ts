// A Nix profile on disk: `P -> P-N-link` (relative) and `P-N-link -> /nix/store/...`.
// Reading these links directly is ~10x faster than `nix-env --list-generations` and
// gives the same answer (TESTBED.md); mutations still go through nix-env.
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export interface ProfileLink {
  generation: number;
  /** The store path the generation link points at (may no longer exist). */
  target: string;
  /** Creation time of the generation: the link's lstat mtime. */
  mtimeMs: number;
}

export interface ProfileState {
  links: ProfileLink[];
  /** Generation number the profile currently points at, if any. */
  current?: number;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Generation links of profile `profile`, sorted by number; a missing profile has none. */
export function readProfile(profile: string): ProfileState {
  const dir = path.dirname(profile);
  const base = path.basename(profile);
  const re = new RegExp(`^${escapeRe(base)}-([0-9]+)-link$`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { links: [] };
    throw err;
  }
  const links: ProfileLink[] = [];
  for (const name of names) {
    const m = re.exec(name);
    if (!m) continue;
    const full = path.join(dir, name);
    let target: string;
    let mtimeMs: number;
    try {
      target = readlinkSync(full);
      mtimeMs = lstatSync(full).mtimeMs;
    } catch (err) {
      // Deleted between readdir and here (a concurrent nix-collect-garbage): skip it.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EINVAL') continue;
      throw err;
    }
    links.push({ generation: Number(m[1]), target: path.resolve(dir, target), mtimeMs });
  }
  links.sort((a, b) => a.generation - b.generation);
  let current: number | undefined;
  try {
    const m = re.exec(path.basename(readlinkSync(profile)));
    if (m) current = Number(m[1]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return { links, current };
}

/** The generation the profile points at now, or undefined for an empty profile. */
export function currentGeneration(profile: string): ProfileLink | undefined {
  const state = readProfile(profile);
  return state.links.find((l) => l.generation === state.current);
}
