// Incremental journal reading: from a byte offset, whole lines only. An incomplete
// final line (a worker mid-write, or killed mid-write) is left for the next read.
import { open, type FileHandle } from 'node:fs/promises';
import { openSync, closeSync, readSync, fstatSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
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

const STREAMS = [Buffer.from('stdout'), Buffer.from('stderr'), Buffer.from('info')];
const P_SEQ = Buffer.from('{"seq":');
const P_STREAM = Buffer.from(',"stream":"');
const P_TEXT = Buffer.from('","text":"');
const P_TIME = Buffer.from('","time":"');
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;
const ESCAPES = new Uint8Array(256);
for (const c of '"\\/bfnrt') ESCAPES[c.charCodeAt(0)] = 1;
/** Bytes that stand for themselves inside a JSON string: not a control character, '"' or '\\'. */
const PLAIN = new Uint8Array(256).fill(1, 0x20);
PLAIN[0x22] = 0;
PLAIN[0x5c] = 0;
const TIME_CHARS = new Uint8Array(256);
for (const c of '0123456789T:.Z+-') TIME_CHARS[c.charCodeAt(0)] = 1;

const at = (buf: Buffer, i: number, lit: Buffer) => buf.compare(lit, 0, lit.length, i, i + lit.length) === 0;

/**
 * Is the line starting at `i` exactly as the writer writes it, ending with a newline?
 * Checked on the bytes, without decoding: the fixed keys in order, a stream name, a JSON
 * string with only valid escapes and no raw control characters, an ISO time. Such a line
 * is valid JSON and a valid OutputLine as it stands, so it can go on the wire without a
 * parse. Returns its seq and the newline's index, or undefined. UTF-8 validity is the
 * caller's check (once per chunk). A byte loop, not a regex: linear on damaged lines (a
 * regex over the text backtracked exponentially), and no string per chunk (a 1 MB string
 * per frame showed as +33 MiB RSS under a client that does not read).
 */
export function writerLineAt(buf: Buffer, i: number): { seq: number; nl: number } | undefined {
  if (!at(buf, i, P_SEQ)) return undefined;
  let j = i + P_SEQ.length;
  if (buf[j] === 0x30) return undefined;
  let seq = 0;
  const digits = j;
  for (; buf[j]! >= 0x30 && buf[j]! <= 0x39; j++) seq = seq * 10 + (buf[j]! - 0x30);
  if (j === digits || j - digits > 15 || !at(buf, j, P_STREAM)) return undefined;
  j += P_STREAM.length;
  const stream = STREAMS.find((s) => at(buf, j, s));
  if (!stream) return undefined;
  j += stream.length;
  if (!at(buf, j, P_TEXT)) return undefined;
  for (j += P_TEXT.length; ; j++) {
    while (PLAIN[buf[j]!]) j++;
    const b = buf[j];
    if (b === 0x22) break;
    if (b !== 0x5c) return undefined; // a raw control character, or the end of the buffer
    const e = buf[++j];
    if (e === 0x75) {
      if (!HEX[buf[j + 1]!] || !HEX[buf[j + 2]!] || !HEX[buf[j + 3]!] || !HEX[buf[j + 4]!]) return undefined;
      j += 4;
    } else if (e === undefined || !ESCAPES[e]) return undefined;
  }
  if (!at(buf, j, P_TIME)) return undefined;
  j += P_TIME.length;
  const t0 = j;
  while (TIME_CHARS[buf[j]!]) j++;
  if (j === t0 || j - t0 > 40 || buf[j] !== 0x22 || buf[j + 1] !== 0x7d || buf[j + 2] !== 0x0a) return undefined;
  return { seq, nl: j + 2 };
}

/**
 * The one reading of a journal line, used by every reader (live stream, replay, CLI, the
 * writer's reopen): the line buf[start..nl) (buf[nl] is its newline) in the writer's
 * layout as is, else any valid OutputLine re-serialised, else undefined. A damaged line
 * is skipped by itself; the seq gap it leaves is visible to clients.
 */
export function parseLineAt(buf: Buffer, start: number, nl: number): RawLine | undefined {
  const fast = writerLineAt(buf, start);
  if (fast && fast.nl === nl && isUtf8(buf.subarray(start, nl))) return { seq: fast.seq, raw: buf.toString('utf8', start, nl) };
  try {
    const line = outputLine.safeParse(JSON.parse(buf.toString('utf8', start, nl)));
    return line.success ? { seq: line.data.seq, raw: JSON.stringify(line.data) } : undefined;
  } catch {
    return undefined;
  }
}

/** Turn complete lines into RawLines, skipping damaged ones (each alone). */
export function splitLines(buf: Buffer, offset: number): JournalChunk {
  const lastNl = buf.lastIndexOf(0x0a);
  if (lastNl < 0) return { lines: [], nextOffset: offset };
  const lines: RawLine[] = [];
  for (let start = 0; start <= lastNl; ) {
    const nl = buf.indexOf(0x0a, start);
    const line = nl > start ? parseLineAt(buf, start, nl) : undefined;
    if (line) lines.push(line);
    start = nl + 1;
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
      const line = parseLineAt(tail, prevNl + 1, lineEnd);
      if (line) return { lastSeq: line.seq, validBytes, size };
      if (prevNl < 0) break;
      lineEnd = prevNl;
    }
    tail = tail.subarray(0, lineEnd + 1); // keep the unchecked line's end for the next block
  }
  return { lastSeq: 0, validBytes: validBytes ?? 0, size };
}
