// An op's journal as the broker's stream holds it: batches of lines on
// nixfleet.journal.<host>.<op>, ending with the op's final record. Read with an ordered
// consumer, which JetStream delivers in order, exactly once, recreating itself after a
// gap; a reader that comes back starts at the stream sequence after the last batch it
// had, so replay costs only what was missed.
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient } from '@nats-io/jetstream';
import { opInfo, parseAdditive, type OpInfo, type OutputLine } from '../../protocol';
import { HEADERS, STREAMS, subjects } from '../../protocol/broker';

/** Where a reader got to in one op's journal: the journal seq and the stream sequence holding it. */
export interface JournalPosition {
  lastSeq: number;
  streamSeq: number;
}

/** Per (host, op): where this controller got to in the journal stream, so a new session resumes there. */
export class JournalPositions {
  private readonly map = new Map<string, JournalPosition>();
  get(host: string, op: string): JournalPosition | undefined {
    return this.map.get(`${host}\0${op}`);
  }
  set(host: string, op: string, p: JournalPosition): void {
    this.map.set(`${host}\0${op}`, p);
  }
  delete(host: string, op: string): void {
    this.map.delete(`${host}\0${op}`);
  }
}

export interface JournalReaderHandlers {
  /** A batch as the agent stored it: `{"lines":[...]}` text, lines with seq > fromSeq among them. */
  batch(json: string, firstSeq: number, lastSeq: number): void;
  end(info: OpInfo): void;
  error(err: Error): void;
}

/** Follow one op's journal from after `fromSeq`. `position`: a known place to start from. */
export class JournalReader {
  private messages: ConsumerMessages | undefined;
  private closed = false;
  position: JournalPosition | undefined;

  constructor(
    private readonly js: JetStreamClient,
    readonly host: string,
    readonly op: string,
    private readonly fromSeq: number,
    private readonly handlers: JournalReaderHandlers,
    start?: JournalPosition,
  ) {
    // Only a position at or before fromSeq can be resumed from: earlier lines were wanted otherwise.
    this.position = start && start.lastSeq <= fromSeq ? start : undefined;
    void this.run();
  }

  private async run(): Promise<void> {
    try {
      const consumer = await this.js.consumers.get(STREAMS.journal, {
        filter_subjects: subjects.journal(this.host, this.op),
        ...(this.position ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.position.streamSeq + 1 } : {}),
      });
      if (this.closed) return;
      this.messages = await consumer.consume();
      for await (const m of this.messages) {
        if (this.closed) break;
        const h = m.headers;
        if (h?.has(HEADERS.end)) {
          const parsed = parseAdditive(opInfo, m.json());
          if (!parsed.success) throw new Error(`the final record of op ${this.op} of host ${this.host} in the broker is invalid: ${parsed.error.issues[0]?.message}`);
          this.close();
          this.handlers.end(parsed.data);
          return;
        }
        const first = Number(h?.get(HEADERS.firstSeq));
        const last = Number(h?.get(HEADERS.lastSeq));
        if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < 1 || last < first) continue;
        this.position = { lastSeq: last, streamSeq: m.seq };
        if (last <= this.fromSeq) continue;
        this.handlers.batch(m.string(), first, last);
      }
    } catch (err) {
      if (!this.closed) {
        this.close();
        this.handlers.error(err as Error);
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.messages?.close();
  }
}

/**
 * Read an op's journal until its end (the op may not have started yet: a queued op), for
 * controllers that only watch, e.g. a second controller or `nixfleet log --follow`.
 */
export function followJournal(js: JetStreamClient, host: string, op: string, onLines: (lines: OutputLine[]) => void, fromSeq = 0): { done: Promise<OpInfo>; close(): void } {
  let reader: JournalReader | undefined;
  let last = fromSeq;
  const done = new Promise<OpInfo>((resolve, reject) => {
    reader = new JournalReader(js, host, op, fromSeq, {
      batch(json) {
        const lines = (JSON.parse(json) as { lines: OutputLine[] }).lines.filter((l) => l.seq > last);
        if (!lines.length) return;
        last = lines[lines.length - 1]!.seq;
        onLines(lines);
      },
      end: resolve,
      error: reject,
    });
  });
  return { done, close: () => reader?.close() };
}
