// Copies op journals into the broker's journal stream: batches of journal lines on
// nixfleet.journal.<host>.<op>, then the op's final record (header Nixfleet-End).
// Where to resume is asked of the stream itself (the last message on the op's subject,
// by direct get), so neither an agent restart nor a lost ack loses or repeats a line the
// stream holds; msg ids make JetStream drop a retried publish within its duplicate window.
// The local journal file stays the source of truth; the stream is its shared copy.
import { open, type FileHandle } from 'node:fs/promises';
import { headers as natsHeaders } from '@nats-io/nats-core';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { OpInfo } from '../../protocol';
import { HEADERS, STREAMS, hostToken, subjects } from '../../protocol/broker';
import { journalFile } from '../journal/paths';
import { readChunk, type RawLine } from '../journal/reader';
import type { OpManager } from '../runner/manager';

/** Lines and bytes per stream message: big batches for throughput, far below max_payload. */
const BATCH_LINES = 500;
const BATCH_BYTES = 256 * 1024;
/** How often a pump re-reads a running op's journal when no change was signalled. */
const IDLE_POLL_MS = 500;
/** Backoff after a failed publish (broker down, stream missing), doubling up to the maximum. */
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 10_000;

export class JournalPublisher {
  private readonly pumps = new Map<string, Promise<void>>();
  private closed = false;
  private readonly wakers = new Set<() => void>();
  private warned = '';

  constructor(
    private readonly host: string,
    private readonly manager: OpManager,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly log: (text: string) => void,
  ) {}

  /** Make sure the op's journal and final record reach the stream (idempotent). */
  track(opId: string): void {
    if (this.closed || this.pumps.has(opId)) return;
    const p = this.pump(opId).finally(() => this.pumps.delete(opId));
    this.pumps.set(opId, p);
  }

  /** Wake every pump now (the connection came back). */
  kick(): void {
    for (const w of [...this.wakers]) w();
  }

  get active(): number {
    return this.pumps.size;
  }

  private async pump(opId: string): Promise<void> {
    let delay = RETRY_MIN_MS;
    while (!this.closed) {
      try {
        await this.copy(opId);
        return;
      } catch (err) {
        const msg = `journal of op ${opId} not yet in the broker: ${(err as Error).message}; retrying`;
        if (msg !== this.warned) this.log(msg);
        this.warned = msg;
        await this.sleep(delay);
        delay = Math.min(RETRY_MAX_MS, delay * 2);
      }
    }
  }

  /** What the stream already holds for the op: the last seq, or that the end is there. */
  private async published(opId: string): Promise<{ lastSeq: number; ended: boolean }> {
    const m = await this.jsm.direct.getMessage(STREAMS.journal, { last_by_subj: subjects.journal(this.host, opId) });
    if (!m) return { lastSeq: 0, ended: false };
    if (m.header?.get(HEADERS.end)) return { lastSeq: Number(m.header.get(HEADERS.lastSeq)) || 0, ended: true };
    return { lastSeq: Number(m.header?.get(HEADERS.lastSeq)) || 0, ended: false };
  }

  private async copy(opId: string): Promise<void> {
    const state = await this.published(opId);
    if (state.ended) return;
    let last = state.lastSeq;
    const file = journalFile(this.manager.stateDir, opId);
    let fh: FileHandle | undefined;
    let offset = 0;
    const stop = this.manager.watchJournal(opId, () => this.kick());
    try {
      for (;;) {
        if (this.closed) return;
        fh ??= await open(file, 'r').catch(() => undefined);
        let lines: RawLine[] = [];
        if (fh) {
          const chunk = await readChunk(fh, offset);
          offset = chunk.nextOffset;
          lines = chunk.lines.filter((l) => l.seq > last);
        }
        if (lines.length) {
          last = await this.send(opId, lines, last);
          continue;
        }
        // Nothing new: the end is published once the op is final and its journal drained.
        const info = this.manager.get(opId);
        if (!info) return;
        if (this.manager.isFinal(info)) {
          if (fh) {
            const tail = await readChunk(fh, offset);
            if (tail.lines.some((l) => l.seq > last)) continue;
          }
          await this.end(info, last);
          return;
        }
        await this.sleep(IDLE_POLL_MS);
      }
    } finally {
      stop();
      await fh?.close();
    }
  }

  private async send(opId: string, lines: RawLine[], last: number): Promise<number> {
    for (let i = 0; i < lines.length; ) {
      const batch: string[] = [];
      let bytes = 0;
      const first = lines[i]!.seq;
      let lastInBatch = first;
      while (i < lines.length && batch.length < BATCH_LINES && bytes < BATCH_BYTES) {
        batch.push(lines[i]!.raw);
        bytes += lines[i]!.raw.length;
        lastInBatch = lines[i]!.seq;
        i++;
      }
      const h = natsHeaders();
      h.set(HEADERS.firstSeq, String(first));
      h.set(HEADERS.lastSeq, String(lastInBatch));
      await this.js.publish(subjects.journal(this.host, opId), `{"lines":[${batch.join(',')}]}`, {
        headers: h,
        msgID: `${hostToken(this.host)}.${opId}.${first}-${lastInBatch}`,
      });
      last = lastInBatch;
    }
    return last;
  }

  private async end(info: OpInfo, last: number): Promise<void> {
    const h = natsHeaders();
    h.set(HEADERS.end, '1');
    h.set(HEADERS.lastSeq, String(last));
    await this.js.publish(subjects.journal(this.host, info.id), JSON.stringify({ ...info, lastSeq: Math.max(info.lastSeq, last) }), {
      headers: h,
      msgID: `${hostToken(this.host)}.${info.id}.end`,
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  close(): void {
    this.closed = true;
    this.kick();
  }
}
