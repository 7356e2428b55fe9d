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
  /** The same as ISO-8601 text. */
  createdAt: string;
}

export interface ProfileState {
  links: ProfileLink[];
  /** Generation number the profile currently points at, if any. */
  current?: number;
}

/** Generation links of profile `profile`, sorted by number; a missing profile has none. */
export function readProfile(profile: string): ProfileState {
  return readProfileWith(profile, undefined);
}

/** Link name + target → creation time, remembered between reads of one profile. */
type MtimeCache = Map<string, { target: string; mtimeMs: number; createdAt: string }>;
const mtimes = new Map<string, MtimeCache>();

/** The profile's generations, read when asked (state/metadata.ts prunes by them). */
export const generationsOf = (profile: string) => () => readProfile(profile).links;

/**
 * readProfile for frequent readers (the generations request): every link is still read,
 * but a link whose name and target are unchanged keeps the creation time read before, so
 * only new links cost an lstat. nix-env never rewrites a generation link in place.
 */
export function readProfileCached(profile: string): ProfileState {
  let known = mtimes.get(profile);
  if (!known) {
    if (mtimes.size > 64) {
      mtimes.clear();
      lastStates.clear();
    }
    known = new Map();
    mtimes.set(profile, known);
  }
  const state = readProfileWith(profile, known);
  // Hand back the previous object when nothing changed, so callers can reuse what they built from it.
  const prev = lastStates.get(profile);
  if (prev && sameState(prev, state)) return prev;
  lastStates.set(profile, state);
  return state;
}

const lastStates = new Map<string, ProfileState>();

function sameState(a: ProfileState, b: ProfileState): boolean {
  if (a.current !== b.current || a.links.length !== b.links.length) return false;
  for (let i = 0; i < a.links.length; i++) {
    const x = a.links[i]!;
    const y = b.links[i]!;
    if (x.generation !== y.generation || x.target !== y.target || x.mtimeMs !== y.mtimeMs) return false;
  }
  return true;
}

function readProfileWith(profile: string, known: MtimeCache | undefined): ProfileState {
  const dir = path.dirname(profile);
  const prefix = path.basename(profile) + '-';
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { links: [] };
    throw err;
  }
  const links: ProfileLink[] = [];
  for (const name of names) {
    const generation = generationOfName(name, prefix);
    if (generation === undefined) continue;
    const full = dir + '/' + name;
    let target: string;
    let mtimeMs: number;
    let createdAt: string;
    try {
      target = readlinkSync(full);
      const prev = known?.get(name);
      if (prev && prev.target === target) ({ mtimeMs, createdAt } = prev);
      else {
        mtimeMs = lstatSync(full).mtimeMs;
        createdAt = new Date(mtimeMs).toISOString();
        known?.set(name, { target, mtimeMs, createdAt });
      }
    } catch (err) {
      // Deleted between readdir and here (a concurrent nix-collect-garbage): skip it.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EINVAL') continue;
      throw err;
    }
    links.push({ generation, target: target.startsWith('/') ? target : path.resolve(dir, target), mtimeMs, createdAt });
  }
  links.sort((a, b) => a.generation - b.generation);
  if (known && known.size > links.length * 2 + 16) {
    // Forget generations that were deleted.
    const live = new Set(names);
    for (const name of known.keys()) if (!live.has(name)) known.delete(name);
  }
  let current: number | undefined;
  try {
    current = generationOfName(readlinkSync(profile).split('/').pop()!, prefix);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return { links, current };
}

/** N for "<prefix>N-link", else undefined. (Plain string checks: this runs per link.) */
function generationOfName(name: string, prefix: string): number | undefined {
  if (!name.startsWith(prefix) || !name.endsWith('-link')) return undefined;
  const digits = name.slice(prefix.length, -5);
  if (digits.length === 0 || digits.length > 10) return undefined;
  for (let i = 0; i < digits.length; i++) {
    const c = digits.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  return Number(digits);
}

/**
 * The generation the profile points at now, or undefined for an empty profile: readProfile's
 * answer for its current link, from that link alone. A switch asks it three times, and a
 * host that never collects garbage keeps hundreds of generations (~0.3 ms per 25 to read).
 */
export function currentGeneration(profile: string): ProfileLink | undefined {
  const dir = path.dirname(profile);
  let name: string;
  try {
    name = readlinkSync(profile).split('/').pop()!;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const generation = generationOfName(name, path.basename(profile) + '-');
  if (generation === undefined) return undefined;
  const full = dir + '/' + name;
  try {
    const target = readlinkSync(full);
    const mtimeMs = lstatSync(full).mtimeMs;
    return { generation, target: target.startsWith('/') ? target : path.resolve(dir, target), mtimeMs, createdAt: new Date(mtimeMs).toISOString() };
  } catch (err) {
    // Deleted meanwhile (a concurrent nix-collect-garbage), or not a link: as readProfile skips it.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
    throw err;
  }
}

