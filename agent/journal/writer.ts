// The append-only op journal: one JSON object per output line, `seq` 1.. with no gaps.
// Only the worker writes it. Lines are buffered for at most one event-loop turn and
// written with one write(2) per batch; the agent streams only what it read back from
// the file, so whatever a client saw is on disk, whatever kill -9 hits.
import { closeSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { scanTail } from './reader';
import { APPEND_READ } from '../state/noFollow';
import { MAX_LINE_CHARS, type BuildProgress, type OutputStream } from '../../protocol';

/** Flush the buffer when it holds this much, without waiting for the next turn. */
const FLUSH_BYTES = 256 * 1024;

export class JournalWriter {
  private readonly fd: number;
  private seq: number;
  private buffer: string[] = [];
  private bufferedChars = 0;
  private scheduled = false;
  private closed = false;

  private constructor(fd: number, lastSeq: number) {
    this.fd = fd;
    this.seq = lastSeq;
  }

  /**
   * Open (or create) a journal for appending. A torn final line, left by a writer killed
   * mid-write, is cut off so the next line starts on a line boundary; seq continues
   * after the last valid line (a damaged complete line stays, and readers skip it).
   */
  static open(file: string): JournalWriter {
    const fd = openSync(file, APPEND_READ, 0o600); // O_NOFOLLOW: a planted symlink fails with ELOOP
    try {
      const { lastSeq, validBytes, size } = scanTail(fd);
      if (validBytes < size) ftruncateSync(fd, validBytes);
      return new JournalWriter(fd, lastSeq);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  get lastSeq(): number {
    return this.seq;
  }

  /**
   * Append text (split at newlines and at MAX_LINE_CHARS) as one or more journal lines;
   * `progress` (a build's counts) goes on the last of them.
   */
  append(stream: OutputStream, text: string, progress?: BuildProgress): void {
    if (this.closed) throw new Error('internal: journal written after it was closed');
    const time = new Date().toISOString();
    const parts = text.split('\n');
    if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
    parts.forEach((part, n) => {
      for (let i = 0; i < part.length || i === 0; i += MAX_LINE_CHARS) {
        const last = progress !== undefined && n === parts.length - 1 && i + MAX_LINE_CHARS >= part.length;
        const line = JSON.stringify({ seq: ++this.seq, stream, text: part.slice(i, i + MAX_LINE_CHARS), time, ...(last ? { progress } : {}) }) + '\n';
        this.buffer.push(line);
        this.bufferedChars += line.length;
      }
    });
    if (this.bufferedChars >= FLUSH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Write buffered lines now. */
  flush(): void {
    this.scheduled = false;
    if (!this.buffer.length || this.closed) return;
    const data = Buffer.from(this.buffer.join(''), 'utf8');
    this.buffer = [];
    this.bufferedChars = 0;
    let off = 0;
    while (off < data.length) off += writeSync(this.fd, data, off, data.length - off);
  }

  /** Flush, fsync and close. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    try {
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
    }
  }
}
