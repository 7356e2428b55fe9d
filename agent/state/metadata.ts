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

/** Records kept: far more than any profile's generations, so the file stays small. */
export const MAX_RECORDS = 5000;

function prune(m: Metadata): void {
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

function update(stateDir: string, change: (m: Metadata) => void): void {
  const m = structuredClone(readMetadataCached(stateDir));
  change(m);
  prune(m);
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

export function recordRevision(stateDir: string, storePath: string, revision: string, at = new Date()): void {
  update(stateDir, (m) => {
    m.revisions[storePath] = { revision, recordedAt: at.toISOString() };
  });
}

export function recordChecks(stateDir: string, generation: number, storePath: string, outcome: CheckOutcome): void {
  update(stateDir, (m) => {
    m.checks[String(generation)] = { storePath, outcome };
  });
}

/** The check outcome recorded for generation N, if it still has the same store path. */
export function checksFor(m: Metadata, generation: number, storePath: string): CheckOutcome | undefined {
  const rec = m.checks[String(generation)];
  return rec && rec.storePath === storePath ? rec.outcome : undefined;
}
