// Turning journal bytes into op.output frames without decoding them: the journal's
// lines are already the wire's OutputLine JSON, so a frame is the prefix, the lines
// joined with "," instead of "\n", and "]}". The bytes are read straight into the
// frame's buffer. Each line is checked against the writer's exact layout (writerLineAt,
// so the frame is valid JSON without a parse); a chunk with a line that fails the check
// takes the careful path, where a damaged line costs that line alone.
import type { FileHandle } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { splitLines, writerLineAt } from '../journal/reader';

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

export async function readOutputFrame(fh: FileHandle, offset: number, afterSeq: number, prefix: Buffer, chunk = FRAME_CHUNK_BYTES): Promise<FrameRead> {
  const P = prefix.length;
  const buf = Buffer.allocUnsafe(P + chunk + 2);
  const { bytesRead } = await fh.read(buf, P, chunk, offset);
  const none = { nextOffset: offset, lastSeq: afterSeq };
  if (bytesRead === 0) return none;
  const end = buf.lastIndexOf(0x0a, P + bytesRead - 1);
  if (end < P) return none; // only an incomplete line so far
  const nextOffset = offset + (end - P) + 1;
  // Check every line before changing a byte: a damaged line sends the chunk down the
  // careful path, which must see the lines exactly as stored.
  const bytes = buf.subarray(P, end + 1);
  if (!isUtf8(bytes)) return carefulFrame(bytes, offset, afterSeq, prefix);
  const newlines: number[] = [];
  let start = -1; // where (in `buf`) the first line after `afterSeq` starts
  let lastSeq = afterSeq;
  for (let from = P; from <= end; ) {
    const line = writerLineAt(buf, from);
    if (!line) return carefulFrame(bytes, offset, afterSeq, prefix);
    if (line.seq > afterSeq) {
      if (start < 0) start = from;
      else newlines.push(from - 1);
      lastSeq = line.seq;
    }
    from = line.nl + 1;
  }
  if (start < 0) return { nextOffset, lastSeq: afterSeq }; // all delivered before (a resumed subscription)
  for (const i of newlines) buf[i] = 0x2c; // ,
  buf[end] = 0x5d; // ]
  buf[end + 1] = 0x7d; // }
  prefix.copy(buf, start - P);
  return { frame: buf.subarray(start - P, end + 2), nextOffset, lastSeq };
}

/** The slow path: the shared line reader on the untouched bytes; keeps the valid lines after `afterSeq`. */
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
