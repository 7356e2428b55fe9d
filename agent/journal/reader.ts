// Incremental journal reading: from a byte offset, whole lines only. An incomplete
// final line (a worker mid-write, or killed mid-write) is left for the next read.
import { open, type FileHandle } from 'node:fs/promises';
import { openSync, closeSync, readSync, fstatSync } from 'node:fs';
import { outputLine, type OutputLine } from '../../protocol';
import { seqOf } from './writer';

/** Bytes read per step: several times the largest possible journal line. */
export const READ_CHUNK_BYTES = 256 * 1024;

export interface RawLine {
  seq: number;
  /** The line's JSON text exactly as in the journal (no newline): already a valid OutputLine. */
  raw: string;
}

export interface JournalChunk {
  lines: RawLine[];
  /** Offset just after the last complete line read. */
  nextOffset: number;
}

const WELL_FORMED = /^\{"seq":\d+,"stream":"(stdout|stderr|info)","text":".*","time":"[0-9T:.Z+-]+"\}$/s;

/** Turn complete lines into RawLines; anything not shaped as the writer writes is re-checked with the schema. */
export function splitLines(buf: Buffer, offset: number): JournalChunk {
  const lastNl = buf.lastIndexOf(0x0a);
  if (lastNl < 0) return { lines: [], nextOffset: offset };
  const text = buf.subarray(0, lastNl).toString('utf8');
  const lines: RawLine[] = [];
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    const seq = seqOf(raw);
    if (seq !== undefined && WELL_FORMED.test(raw)) {
      lines.push({ seq, raw });
      continue;
    }
    // Not the writer's own layout: keep it only if it is a valid line, re-serialised.
    try {
      const line = outputLine.parse(JSON.parse(raw));
      lines.push({ seq: line.seq, raw: JSON.stringify(line) });
    } catch {
      // A corrupt record cannot be streamed; skipping it shows up as a seq gap the client can see.
    }
  }
  return { lines, nextOffset: offset + lastNl + 1 };
}

/** Read whole lines starting at `offset` from an open journal. */
export async function readChunk(fh: FileHandle, offset: number, maxBytes = READ_CHUNK_BYTES): Promise<JournalChunk> {
  const buf = Buffer.allocUnsafe(maxBytes);
  const { bytesRead } = await fh.read(buf, 0, maxBytes, offset);
  if (bytesRead === 0) return { lines: [], nextOffset: offset };
  return splitLines(buf.subarray(0, bytesRead), offset);
}

/** Every complete line of a journal (for `nixfleet-agent log` and tests). */
export async function readAllLines(file: string, fromSeq = 0): Promise<OutputLine[]> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  try {
    const out: OutputLine[] = [];
    let offset = 0;
    for (;;) {
      const chunk = await readChunk(fh, offset);
      if (chunk.nextOffset === offset) break;
      offset = chunk.nextOffset;
      for (const l of chunk.lines) if (l.seq > fromSeq) out.push(JSON.parse(l.raw) as OutputLine);
    }
    return out;
  } finally {
    await fh.close();
  }
}

/** Highest seq of a journal's complete lines (0 when empty or missing). */
export function lastSeqOf(file: string): number {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    const block = Math.min(size, READ_CHUNK_BYTES);
    const buf = Buffer.alloc(block);
    readSync(fd, buf, 0, block, size - block);
    const lastNl = buf.lastIndexOf(0x0a);
    if (lastNl < 0) return 0;
    const prevNl = buf.lastIndexOf(0x0a, lastNl - 1);
    return seqOf(buf.subarray(prevNl + 1, lastNl).toString('utf8')) ?? 0;
  } finally {
    closeSync(fd);
  }
}
