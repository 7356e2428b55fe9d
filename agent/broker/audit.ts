// Copies the host's audit log (agent/journal/audit.ts) into the broker's audit stream,
// one message per record on nixfleet.audit.<host>. Each message carries the byte offset
// just after its record; where to resume is the last message's offset, asked of the
// stream, so a restart neither skips nor repeats a record. The local file stays.
import { open } from 'node:fs/promises';
import { headers as natsHeaders } from '@nats-io/nats-core';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { HEADERS, STREAMS, hostToken, subjects } from '../../protocol/broker';
import { auditFile } from '../journal/paths';
import { FileWatcher } from '../journal/watcher';

const RETRY_MAX_MS = 10_000;
const READ_BYTES = 256 * 1024;

export class AuditPublisher {
  private offset: number | undefined;
  private running = false;
  private again = false;
  private closed = false;
  private watcher: FileWatcher | undefined;
  private retry: NodeJS.Timeout | undefined;
  private delay = 250;

  constructor(
    private readonly host: string,
    private readonly stateDir: string,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly log: (text: string) => void,
  ) {}

  start(): void {
    this.watcher = new FileWatcher(auditFile(this.stateDir), () => this.kick(), 1000);
    this.kick();
  }

  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.copy()
      .then(() => (this.delay = 250))
      .catch((err: Error) => {
        this.log(`audit records not yet in the broker: ${err.message}; retrying`);
        this.offset = undefined; // ask the stream again where it stands
        this.retry = setTimeout(() => this.kick(), this.delay);
        this.delay = Math.min(RETRY_MAX_MS, this.delay * 2);
      })
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async copy(): Promise<void> {
    if (this.offset === undefined) {
      const m = await this.jsm.direct.getMessage(STREAMS.audit, { last_by_subj: subjects.audit(this.host) });
      this.offset = Number(m?.header?.get(HEADERS.auditOffset)) || 0;
    }
    let offset: number = this.offset;
    const fh = await open(auditFile(this.stateDir), 'r').catch(() => undefined);
    if (!fh) return;
    try {
      // A log shorter than what was published was replaced: start it from its beginning.
      if ((await fh.stat()).size < offset) offset = this.offset = 0;
      for (;;) {
        const buf = Buffer.allocUnsafe(READ_BYTES);
        const { bytesRead } = await fh.read(buf, 0, READ_BYTES, offset);
        const end = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
        if (end < 0) return; // nothing, or a record still being written
        let start = 0;
        while (start <= end) {
          const nl = buf.indexOf(0x0a, start);
          const line = buf.subarray(start, nl).toString('utf8');
          const after: number = offset + nl + 1;
          if (line.trim()) {
            const h = natsHeaders();
            h.set(HEADERS.auditOffset, String(after));
            await this.js.publish(subjects.audit(this.host), line, { headers: h, msgID: `${hostToken(this.host)}.audit.${after}` });
          }
          start = nl + 1;
          this.offset = after;
        }
        offset = this.offset;
      }
    } finally {
      await fh.close();
    }
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.retry) clearTimeout(this.retry);
  }
}
