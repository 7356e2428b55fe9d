// What the agent knows about generations beyond the profile links: the git revision each
// store path was built from, and the health-check outcome recorded for each generation.
// One small JSON file under stateDir, replaced atomically and validated on every read.
import { mkdirSync, readFileSync, statSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { checkOutcome } from '../../protocol';
import { syncFiles, writeJsonAtomicSync } from './atomic';

export const METADATA_FILE = 'generations.json';

const revisionRecord = z.strictObject({
  revision: z.string().min(1).max(100),
  recordedAt: z.string().datetime({ offset: true }),
});

const checksRecord = z.strictObject({
  /** The generation's store path when checked: a reused number with another path does not inherit it. */
  storePath: z.string().min(1),
  outcome: checkOutcome,
});

const metadataSchema = z.strictObject({
  version: z.literal(1),
  /** store path → revision it was built from. */
  revisions: z.record(z.string(), revisionRecord),
  /** generation number (as text) → last health-check outcome. */
  checks: z.record(z.string().regex(/^[0-9]+$/), checksRecord),
});

export type Metadata = z.infer<typeof metadataSchema>;
export type CheckOutcome = z.infer<typeof checkOutcome>;

export class StateError extends Error {
  override name = 'StateError';
}

export function metadataPath(stateDir: string): string {
  return path.join(stateDir, METADATA_FILE);
}

const empty = (): Metadata => ({ version: 1, revisions: {}, checks: {} });

/** Read and validate the metadata; a missing file is an empty record, a corrupt one a StateError naming it. */
export function readMetadata(stateDir: string): Metadata {
  const file = metadataPath(stateDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return empty();
    throw new StateError(`cannot read the agent's state file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}; check its permissions`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new StateError(
      `the agent's state file ${file} is corrupt (not JSON: ${(err as Error).message}); move it aside to start a fresh record of revisions and health checks`,
    );
  }
  const parsed = metadataSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new StateError(
      `the agent's state file ${file} is corrupt (${issue.path.join('.') || 'top level'}: ${issue.message}); move it aside to start a fresh record of revisions and health checks`,
    );
  }
  return parsed.data;
}

/** Shared answer for "no file yet"; readers of the cached value never modify it. */
const NO_METADATA: Metadata = empty();

let lastRead: { file: string; key: string; meta: Metadata } | undefined;

const fileKey = (st: BigIntStats) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;

/**
 * readMetadata for readers that do not modify the result, reusing the last parse (or the
 * last write) of this process while the file is the same (it is only ever replaced by
 * rename, which gives it a new inode). Validating a long-lived host's record costs ~12 ms
 * at 5000 entries; an op reads it at its start and updates it twice, and a standby worker
 * reads it before its op (worker.ts preloadWorker), so an op parses it at most once.
 */
export function readMetadataCached(stateDir: string): Metadata {
  const file = metadataPath(stateDir);
  const st = statSync(file, { throwIfNoEntry: false, bigint: true });
  if (!st) return NO_METADATA;
  const key = fileKey(st);
  if (lastRead && lastRead.file === file && lastRead.key === key) return lastRead.meta;
  const meta = readMetadata(stateDir);
  lastRead = { file, key, meta };
  return meta;
}

/** Records kept of each kind at most, whatever the profile holds. */
export const MAX_RECORDS = 5000;
/**
 * Once a kind holds more records than this, those of generations the profile no longer has
 * (collected by nix-collect-garbage or gc) are dropped: nothing reads them again, and a
 * record that only grew made every switch on a long-lived host rewrite up to 10000 entries
 * (~12 ms each time at 5000 of each).
 */
export const PRUNE_AT = 256;
/** Revisions kept whatever the profile says: the newest, in case one is read before its generation shows. */
const KEEP_NEWEST = 32;

/** The generations the profile has now (nix/profile.ts readProfile's links), asked only when pruning. */
export type ProfileGenerations = () => readonly { generation: number; target: string }[];

/** Drop what the profile no longer has (when the record is big enough to matter), then the oldest beyond MAX_RECORDS. */
function prune(m: Metadata, profile: ProfileGenerations | undefined): void {
  if (profile !== undefined && (Object.keys(m.revisions).length > PRUNE_AT || Object.keys(m.checks).length > PRUNE_AT)) {
    let links: readonly { generation: number; target: string }[] = [];
    try {
      links = profile();
    } catch {
      /* unreadable now: pruned at a later record */
    }
    // A profile that cannot be read, or has no generation, says nothing of what to keep.
    if (links.length > 0) {
      const targets = new Set(links.map((l) => l.target));
      const generations = new Map(links.map((l) => [String(l.generation), l.target]));
      const newest = new Set(
        Object.entries(m.revisions)
          .sort((a, b) => b[1].recordedAt.localeCompare(a[1].recordedAt))
          .slice(0, KEEP_NEWEST)
          .map(([storePath]) => storePath),
      );
      for (const storePath of Object.keys(m.revisions)) if (!targets.has(storePath) && !newest.has(storePath)) delete m.revisions[storePath];
      for (const [g, rec] of Object.entries(m.checks)) if (generations.get(g) !== rec.storePath) delete m.checks[g];
    }
  }
  const revs = Object.entries(m.revisions);
  if (revs.length > MAX_RECORDS) {
    revs.sort((a, b) => a[1].recordedAt.localeCompare(b[1].recordedAt));
    for (const [storePath] of revs.slice(0, revs.length - MAX_RECORDS)) delete m.revisions[storePath];
  }
  const gens = Object.keys(m.checks).map(Number);
  if (gens.length > MAX_RECORDS) {
    gens.sort((a, b) => a - b);
    for (const g of gens.slice(0, gens.length - MAX_RECORDS)) delete m.checks[String(g)];
  }
}

/** Metadata files this process replaced, not yet fsynced (syncMetadata). */
const unsynced = new Set<string>();

function update(stateDir: string, change: (m: Metadata) => void, profile: ProfileGenerations | undefined): void {
  const m = structuredClone(readMetadataCached(stateDir));
  change(m);
  prune(m, profile);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = metadataPath(stateDir);
  // Atomic now; durable at the op's end (syncMetadata), two fsync pairs fewer on a switch.
  // A power cut before that ends the op interrupted (its op.json says running) and may
  // leave this record as it was before the op: missing what the op added, never claiming
  // what did not happen.
  // What was written is what a parse of the file would give: the next read needs none.
  lastRead = { file, key: fileKey(writeJsonAtomicSync(file, m, { durable: false })), meta: m };
  unsynced.add(file);
}

/**
 * Make the metadata this process recorded durable: an op's worker runs it before its final
 * record says the op ended, so an ended op's revision and check outcome survive a power cut.
 */
export function syncMetadata(): void {
  const files = [...unsynced];
  unsynced.clear();
  syncFiles(files);
}

/** `profile`: the generations of the profile the agent switches, which decide what is kept (PRUNE_AT). */
export function recordRevision(stateDir: string, storePath: string, revision: string, profile?: ProfileGenerations): void {
  update(
    stateDir,
    (m) => {
      m.revisions[storePath] = { revision, recordedAt: new Date().toISOString() };
    },
    profile,
  );
}

export function recordChecks(stateDir: string, generation: number, storePath: string, outcome: CheckOutcome, profile?: ProfileGenerations): void {
  update(
    stateDir,
    (m) => {
      m.checks[String(generation)] = { storePath, outcome };
    },
    profile,
  );
}

/** The check outcome recorded for generation N, if it still has the same store path. */
export function checksFor(m: Metadata, generation: number, storePath: string): CheckOutcome | undefined {
  const rec = m.checks[String(generation)];
  return rec && rec.storePath === storePath ? rec.outcome : undefined;
}
