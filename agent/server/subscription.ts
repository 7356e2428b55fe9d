// One client's view of one op's journal: replay the lines after `fromSeq`, then follow
// the file as the worker appends, then send op.end. Lines go out exactly as stored,
// batched into op.output frames. When the client does not keep up, reading pauses
// (the session's unflushed bytes are bounded) and resumes from the journal offset,
// so a slow client costs disk reads, never agent memory.
import { fstatSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { OpInfo } from '../../protocol';
import { journalFile } from '../journal/paths';
import { readOutputFrame } from './outputFrame';
import type { OpManager } from '../runner/manager';

export interface SubscriptionSink {
  /** True when the client has too much unflushed output; the subscription waits for `resume`. */
  congested(): boolean;
  /** A complete op.output frame (UTF-8 JSON). */
  sendRaw(frame: Buffer): void;
  sendEvent(msg: object): void;
}

export class Subscription {
  private fh: FileHandle | undefined;
  private offset = 0;
  private lastSeq: number;
  private busy = false;
  private again = false;
  private final: OpInfo | undefined;
  private closed = false;
  private unwatch: (() => void) | undefined;
  private readonly prefix: Buffer;
  private settle: () => void = () => {};
  /** Resolves once the subscription is over: op.end sent, or closed. */
  readonly over = new Promise<void>((resolve) => (this.settle = resolve));

  constructor(
    private readonly manager: OpManager,
    readonly opId: string,
    fromSeq: number,
    info: OpInfo,
    private readonly sink: SubscriptionSink,
    private readonly onDone: () => void,
  ) {
    this.lastSeq = fromSeq;
    if (manager.isFinal(info)) this.final = info;
    this.prefix = Buffer.from(`{"type":"op.output","op":${JSON.stringify(opId)},"lines":[`);
  }

  async start(): Promise<void> {
    this.fh = await open(journalFile(this.manager.stateDir, this.opId), 'r');
    if (this.closed) return void this.fh.close();
    if (!this.final) {
      this.unwatch = this.manager.watchJournal(this.opId, () => this.kick());
      this.manager.attach(this.opId);
      // It may have ended between the caller's read and attach, with nobody to announce it.
      const now = this.manager.get(this.opId);
      if (now && this.manager.isFinal(now)) this.final ??= now;
    }
    this.kick();
  }

  /** The op ended: drain what is left, then send op.end; resolves once it is sent (or the subscription closed). */
  ended(info: OpInfo): Promise<void> {
    this.final = info;
    // Its worker closed the journal before its final record: when every line and byte of it
    // went out already, op.end goes now rather than after one more read (~1 ms on a switch).
    if (!this.busy && this.fh && !this.sink.congested() && this.lastSeq >= info.lastSeq && fstatSync(this.fh.fd).size === this.offset) {
      this.end(info);
      return this.over;
    }
    this.kick();
    return this.over;
  }

  private end(info: OpInfo): void {
    this.sink.sendEvent({ type: 'op.end', op: { ...info, lastSeq: Math.max(info.lastSeq, this.lastSeq) } });
    this.close();
    this.onDone();
  }

  kick(): void {
    if (this.closed) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    this.pump()
      .catch((err) => {
        if (this.closed) return;
        this.sink.sendEvent({ type: 'error', error: { code: 'internal', message: `reading the journal of op ${this.opId} failed: ${(err as Error).message}` } });
        this.close();
      })
      .finally(() => {
        this.busy = false;
        if (this.again && !this.closed) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async pump(): Promise<void> {
    while (!this.closed && this.fh) {
      if (this.sink.congested()) return; // the session kicks us when the client drained
      // Only an end known before this read proves the read reached the journal's end.
      const endKnown = this.final;
      const read = await readOutputFrame(this.fh, this.offset, this.lastSeq, this.prefix);
      if (this.closed) return;
      if (read.nextOffset === this.offset) {
        if (endKnown) this.end(endKnown);
        return;
      }
      this.offset = read.nextOffset;
      this.lastSeq = read.lastSeq;
      if (read.frame) this.sink.sendRaw(read.frame);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.settle();
    this.unwatch?.();
    const fh = this.fh;
    this.fh = undefined;
    // A read may be in flight; closing after it settles avoids EBADF in the pump.
    if (fh) setImmediate(() => void fh.close().catch(() => {}));
  }
}
