// Turning journal bytes into op.output frames without decoding them: the journal's
// lines are already the wire's OutputLine JSON, so a frame is the prefix, the lines
// joined with "," instead of "\n", and "]}". The bytes are read straight into the
// frame's buffer. Each line is checked to start with `{"seq":` and end with `}`; a
// chunk that fails the check takes the careful path (parse and re-validate every line).
import type { FileHandle } from 'node:fs/promises';
import { splitLines } from '../journal/reader';

/** Journal bytes per frame: well under MAX_FRAME_BYTES, several times the longest line. */
export const FRAME_CHUNK_BYTES = 960 * 1024;

export interface FrameRead {
  /** The op.output frame, or undefined when no new complete line was read. */
  frame?: Buffer;
  /** Offset just after the last complete line read. */
  nextOffset: number;
  /** Seq of the last line in the frame (unchanged when none). */
  lastSeq: number;
}

const SEQ_PREFIX = Buffer.from('{"seq":');

function seqAt(buf: Buffer, i: number): number | undefined {
  if (buf.compare(SEQ_PREFIX, 0, SEQ_PREFIX.length, i, i + SEQ_PREFIX.length) !== 0) return undefined;
  let n = 0;
  let j = i + SEQ_PREFIX.length;
  for (; buf[j]! >= 0x30 && buf[j]! <= 0x39; j++) n = n * 10 + (buf[j]! - 0x30);
  return j > i + SEQ_PREFIX.length && buf[j] === 0x2c ? n : undefined;
}

export async function readOutputFrame(fh: FileHandle, offset: number, afterSeq: number, prefix: Buffer, chunk = FRAME_CHUNK_BYTES): Promise<FrameRead> {
  const P = prefix.length;
  const buf = Buffer.allocUnsafe(P + chunk + 2);
  const { bytesRead } = await fh.read(buf, P, chunk, offset);
  const none = { nextOffset: offset, lastSeq: afterSeq };
  if (bytesRead === 0) return none;
  const end = buf.lastIndexOf(0x0a, P + bytesRead - 1);
  if (end < P) return none; // only an incomplete line so far
  const nextOffset = offset + (end - P) + 1;
  const careful = () => carefulFrame(buf.subarray(P, end + 1), offset, afterSeq, prefix);
  // Skip lines already delivered (a resumed subscription's first chunk).
  let start = P;
  for (;;) {
    const seq = seqAt(buf, start);
    if (seq === undefined) return careful();
    if (seq > afterSeq) break;
    start = buf.indexOf(0x0a, start) + 1;
    if (start > end) return { nextOffset, lastSeq: afterSeq };
  }
  let lastLine = start;
  for (let i = buf.indexOf(0x0a, start); i !== -1 && i < end; i = buf.indexOf(0x0a, i + 1)) {
    if (buf[i - 1] !== 0x7d || buf[i + 1] !== 0x7b || buf[i + 2] !== 0x22) return careful();
    buf[i] = 0x2c;
    lastLine = i + 1;
  }
  const lastSeq = seqAt(buf, lastLine);
  if (lastSeq === undefined || buf[end - 1] !== 0x7d) return careful();
  buf[end] = 0x5d; // ]
  buf[end + 1] = 0x7d; // }
  prefix.copy(buf, start - P);
  return { frame: buf.subarray(start - P, end + 2), nextOffset, lastSeq };
}

/** The slow path: parse every line, keep the valid ones after `afterSeq`. */
function carefulFrame(bytes: Buffer, offset: number, afterSeq: number, prefix: Buffer): FrameRead {
  const { lines, nextOffset } = splitLines(bytes, offset);
  const kept = lines.filter((l) => l.seq > afterSeq);
  if (!kept.length) return { nextOffset, lastSeq: afterSeq };
  return {
    frame: Buffer.concat([prefix, Buffer.from(kept.map((l) => l.raw).join(',') + ']}')]),
    nextOffset,
    lastSeq: kept[kept.length - 1]!.seq,
  };
}
