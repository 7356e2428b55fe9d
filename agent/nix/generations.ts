// The host's generations as the protocol describes them: profile links plus what the
// agent recorded (revision, health checks). Read straight from disk, no nix-env; what
// cannot change (a store path's version file) or whose change is visible cheaply (store
// directory mtime, link targets) is remembered between requests.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Generation } from '../../protocol';
import type { AgentConfig } from '../config';
import { checksFor, readMetadataCached, type Metadata } from '../state/metadata';
import { versionFile } from './platform';
import { readProfileCached, type ProfileState } from './profile';

const MAX_ENTRIES = 20_000;

// Store paths never change while they exist, so a version read once stays true.
const versions = new Map<string, string | null>();

function systemVersion(file: string): string | undefined {
  let v = versions.get(file);
  if (v === undefined) {
    try {
      v = readFileSync(file, 'utf8').trim() || null;
    } catch {
      v = null; // not every system carries a version file
    }
    if (versions.size >= MAX_ENTRIES) versions.clear();
    versions.set(file, v);
  }
  return v ?? undefined;
}

// A store path only disappears by removing its entry from the store directory, which
// changes that directory's mtime: while it is unchanged, earlier presence answers stand.
const presence = new Map<string, { key: string; present: Map<string, boolean> }>();

interface PresenceTable {
  present: Map<string, boolean>;
  trusted: boolean;
}

function presenceTable(storeDir: string): PresenceTable {
  const st = statSync(storeDir, { throwIfNoEntry: false, bigint: true });
  if (!st) return { present: new Map(), trusted: false };
  const key = `${st.dev}:${st.ino}:${st.mtimeNs}`;
  let entry = presence.get(storeDir);
  if (!entry || entry.key !== key || entry.present.size >= MAX_ENTRIES) {
    entry = { key, present: new Map() };
    presence.set(storeDir, entry);
  }
  // Within the same clock tick a later change could keep the mtime: do not trust it yet.
  return { present: entry.present, trusted: Date.now() - Number(st.mtimeNs / 1_000_000n) > 50 };
}

/** Generations of the configured profile, oldest first; a missing profile gives []. */
// The last answer per profile, reused while its inputs are the very same objects/keys.
const answers = new Map<string, { state: ProfileState; meta: Metadata; vfile: string; tables: Map<string, PresenceTable>; out: Generation[] }>();

function stillValid(tables: Map<string, PresenceTable>): boolean {
  for (const [dir, t] of tables) {
    if (!t.trusted) return false;
    const now = presenceTable(dir);
    if (!now.trusted || now.present !== t.present) return false;
  }
  return true;
}

export async function listGenerations(config: Pick<AgentConfig, 'profile' | 'platform' | 'stateDir'>): Promise<Generation[]> {
  const state = readProfileCached(config.profile);
  const { links, current } = state;
  if (links.length === 0) return [];
  const meta = readMetadataCached(config.stateDir);
  const vfile = '/' + versionFile(config.platform);
  const prev = answers.get(config.profile);
  if (prev && prev.state === state && prev.meta === meta && prev.vfile === vfile && stillValid(prev.tables)) {
    // Fresh objects: a caller may change what it got without touching the next answer.
    return prev.out.map((g) => ({ ...g }));
  }
  const tables = new Map<string, PresenceTable>();
  const isPresent = (storePath: string): boolean => {
    const dir = path.dirname(storePath);
    let table = tables.get(dir);
    if (!table) tables.set(dir, (table = presenceTable(dir)));
    let p = table.trusted ? table.present.get(storePath) : undefined;
    if (p === undefined) {
      p = existsSync(storePath);
      if (table.trusted) table.present.set(storePath, p);
    }
    return p;
  };
  const out: Generation[] = new Array(links.length);
  for (let i = 0; i < links.length; i++) {
    const l = links[i]!;
    const present = isPresent(l.target);
    const gen: Generation = {
      generation: l.generation,
      path: l.target,
      createdAt: l.createdAt,
      current: l.generation === current,
      present,
      lastKnownWorking: false,
    };
    const version = present ? systemVersion(l.target + vfile) : undefined;
    if (version !== undefined) gen.systemVersion = version;
    const rev = meta.revisions[l.target];
    if (rev) gen.revision = rev.revision;
    const checks = checksFor(meta, l.generation, l.target);
    if (checks) gen.checks = checks;
    out[i] = gen;
  }
  for (let i = out.length - 1; i >= 0; i--) {
    const g = out[i]!;
    if (g.checks?.passed && g.present) {
      g.lastKnownWorking = true;
      break;
    }
  }
  if (answers.size > 64) answers.clear();
  answers.set(config.profile, { state, meta, vfile, tables, out: out.map((g) => ({ ...g })) });
  return out;
}
