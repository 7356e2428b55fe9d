// Incremental journal reading: from a byte offset, whole lines only. An incomplete
// final line (a worker mid-write, or killed mid-write) is left for the next read.
import { open, type FileHandle } from 'node:fs/promises';
import { openSync, closeSync, readSync, fstatSync } from 'node:fs';
import { outputLine, type OutputLine } from '../../protocol';

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

/**
 * A line exactly as the writer writes it, checked byte for byte: the fixed keys in order,
 * a stream name, a JSON string with only valid escapes and no raw control characters,
 * and an ISO time. A line that matches is valid JSON and a valid OutputLine as it stands,
 * so it can go on the wire without a parse. Run on text decoded as latin1 (one char per
 * byte, so positions are byte offsets); UTF-8 validity is checked on the whole chunk.
 * The run of plain characters is matched as an atomic group (a lookahead captured, then
 * \2): with a plain `(?:[^"]+|...)*` a damaged line backtracks exponentially.
 */
const WRITER_LAYOUT = String.raw`\{"seq":([1-9][0-9]{0,15}),"stream":"(?:stdout|stderr|info)","text":"(?:(?=([^"\\\x00-\x1f]+))\2|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*","time":"[0-9T:.Z+-]{1,40}"\}`;
export const WRITER_LINE = new RegExp(`^${WRITER_LAYOUT}$`);
/** The same, sticky and with its newline: checks a line in place in a chunk's text (set lastIndex). */
export const WRITER_LINE_AT = new RegExp(`${WRITER_LAYOUT}\n`, 'y');

/**
 * The one reading of a journal line, used by every reader (live stream, replay, CLI,
 * the writer's reopen): the writer's layout as is, else any valid OutputLine
 * re-serialised, else undefined. A damaged line is skipped by itself; the seq gap it
 * leaves is visible to clients.
 */
export function parseLine(raw: string): RawLine | undefined {
  const m = WRITER_LINE.exec(raw);
  if (m) return { seq: Number(m[1]), raw };
  try {
    const line = outputLine.safeParse(JSON.parse(raw));
    return line.success ? { seq: line.data.seq, raw: JSON.stringify(line.data) } : undefined;
  } catch {
    return undefined;
  }
}

/** Turn complete lines into RawLines, skipping damaged ones (each alone). */
export function splitLines(buf: Buffer, offset: number): JournalChunk {
  const lastNl = buf.lastIndexOf(0x0a);
  if (lastNl < 0) return { lines: [], nextOffset: offset };
  const text = buf.subarray(0, lastNl).toString('utf8');
  const lines: RawLine[] = [];
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    const line = parseLine(raw);
    if (line) lines.push(line);
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

/** Highest seq of a journal's complete, valid lines (0 when empty or missing). */
export function lastSeqOf(file: string): number {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  try {
    return scanTail(fd).lastSeq;
  } finally {
    closeSync(fd);
  }
}

/**
 * Read backwards from the end: the end of the last complete line (`validBytes`; a torn
 * remainder after it is a writer killed mid-write) and the seq of the last valid line
 * before it, walking back over damaged lines.
 */
export function scanTail(fd: number): { lastSeq: number; validBytes: number; size: number } {
  const size = fstatSync(fd).size;
  let validBytes: number | undefined;
  let end = size;
  let tail = Buffer.alloc(0); // bytes [end, end + tail.length) not yet split into lines
  while (end > 0) {
    const start = Math.max(0, end - READ_CHUNK_BYTES);
    const buf = Buffer.alloc(end - start);
    readSync(fd, buf, 0, buf.length, start);
    tail = Buffer.concat([buf, tail]);
    end = start;
    let lineEnd = tail.lastIndexOf(0x0a);
    if (lineEnd < 0) continue;
    validBytes ??= end + lineEnd + 1;
    for (;;) {
      const prevNl = lineEnd === 0 ? -1 : tail.lastIndexOf(0x0a, lineEnd - 1);
      if (prevNl < 0 && end > 0) break; // the line may start in an earlier block
      const line = parseLine(tail.subarray(prevNl + 1, lineEnd).toString('utf8'));
      if (line) return { lastSeq: line.seq, validBytes, size };
      if (prevNl < 0) break;
      lineEnd = prevNl;
    }
    tail = tail.subarray(0, lineEnd + 1); // keep the unchecked line's end for the next block
  }
  return { lastSeq: 0, validBytes: validBytes ?? 0, size };
}
