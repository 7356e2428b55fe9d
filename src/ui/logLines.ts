// A host log's lines and their order (ui/hostLogs.ts feeds it, VS Code shows it), without
// VS Code: each line starts with the time the agent journalled it, in local time as VS Code's
// own stamps are, then the op kind; ops are kept in the order they started.
import type { OpInfo } from '../../protocol';

/** What a host log writes to: VS Code's LogOutputChannel has these. */
export interface LogSink {
  info(text: string): void;
  warn(text: string): void;
  error(text: string): void;
  dispose(): void;
}

export interface LogEntry {
  level: 'info' | 'warn' | 'error';
  text: string;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** "14:35:02.456" (local time) of an ISO time; the text itself when it is not a time. */
export function timeOfDay(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** "2026-12-04 14:35:02" (local time). */
export function dateTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${timeOfDay(iso).slice(0, 8)}`;
}

/** "14:35:02.456 [switch] building …": one output line with its own time. */
export function lineText(iso: string, kind: string, text: string): string {
  return `${timeOfDay(iso)} [${kind}] ${text}`;
}

/** The first line of an op's block: what, where, when (with the date: history may be days old), who. */
export function blockHeader(host: string, op: OpInfo): LogEntry {
  const params = Object.keys(op.params).length ? ' ' + JSON.stringify(op.params) : '';
  return { level: 'info', text: lineText(op.startedAt, op.kind, `▶ ${op.kind}${params} on ${host}, started ${dateTime(op.startedAt)} by ${op.client.name} (op ${op.id})`) };
}

/** The last line of an op's block: how it ended and how long it took. */
export function blockFooter(op: OpInfo): LogEntry {
  const secs = op.endedAt ? ` in ${((Date.parse(op.endedAt) - Date.parse(op.startedAt)) / 1000).toFixed(1)} s` : '';
  const text = lineText(op.endedAt ?? new Date().toISOString(), op.kind, `■ ${op.kind} ${op.state}${secs}${op.error ? ': ' + op.error : ''} (op ${op.id})`);
  return { level: op.state === 'succeeded' ? 'info' : op.state === 'cancelled' ? 'warn' : 'error', text };
}

/** Lines kept per host while they wait to be written: older ops go first. */
const MAX_LINES_PER_HOST = 20_000;

export interface Block {
  /** The op id, or `notice:<n>` for a fleet notice not tied to an op. */
  key: string;
  /** When the op started (ISO): the channel's order. */
  startedAt: string;
  kind: string;
  entries: LogEntry[];
}

/**
 * The ops of one host in the order they started, written to `channel` append-only. VS Code
 * cannot rewrite a LogOutputChannel (its clear() counts the messages' bytes but not the stamps
 * it adds, so it cuts the channel somewhere in the middle), so the order is made before the
 * first line is written: the channel is held while the host's history loads, then written in
 * order. An op that started earlier but is seen only later (another client's, a host that was
 * offline) is appended with a line saying so.
 */
export class HostLog<S extends LogSink = LogSink> {
  readonly blocks: Block[] = [];
  private readonly shown = new Set<string>();
  private held = false;
  /** The replay of the host's recent ops (hostLogs.ts), once started. */
  history: Promise<OpInfo[]> | undefined;
  private lineCount = 0;

  constructor(readonly channel: S) {}

  block(key: string, startedAt: string, kind: string): Block {
    let b = this.blocks.find((x) => x.key === key);
    if (!b) {
      b = { key, startedAt, kind, entries: [] };
      // Sorted by start; equal starts keep arrival order.
      let i = this.blocks.length;
      while (i > 0 && this.blocks[i - 1]!.startedAt > startedAt) i--;
      this.blocks.splice(i, 0, b);
    }
    return b;
  }

  /** Write nothing until `release()`: the history is on its way. */
  hold(): void {
    if (this.shown.size === 0) this.held = true;
  }

  /** Write what was held, every op in the order it started. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    for (const b of this.blocks) this.writeBlock(b);
  }

  add(b: Block, entries: LogEntry[]): void {
    if (this.held || !this.shown.has(b.key)) {
      b.entries.push(...entries);
      this.lineCount += entries.length;
      this.trim();
    }
    if (this.held) return;
    if (this.shown.has(b.key)) {
      for (const e of entries) write(this.channel, e);
      return;
    }
    const later = this.blocks.slice(this.blocks.indexOf(b) + 1).some((x) => this.shown.has(x.key));
    if (later) {
      write(this.channel, { level: 'info', text: lineText(b.startedAt, b.kind, `(this op started at ${dateTime(b.startedAt)}, before the ones above: this window learnt of it only now)`) });
    }
    this.writeBlock(b);
  }

  /** Write a block's lines so far; the channel keeps them, so the block no longer does. */
  private writeBlock(b: Block): void {
    this.shown.add(b.key);
    for (const e of b.entries) write(this.channel, e);
    this.lineCount -= b.entries.length;
    b.entries = [];
  }

  private trim(): void {
    // Only lines not written yet are kept (a long history while held): the oldest ops go first.
    while (this.lineCount > MAX_LINES_PER_HOST && this.blocks.length > 1) {
      const dropped = this.blocks.shift()!;
      this.lineCount -= dropped.entries.length;
    }
    const only = this.blocks[0];
    if (only && this.lineCount > MAX_LINES_PER_HOST) {
      const n = this.lineCount - MAX_LINES_PER_HOST;
      only.entries.splice(1, n, { level: 'warn', text: `… ${n} earlier line(s) of this op are not kept here; the agent's journal has them all` });
      this.lineCount -= n - 1;
    }
  }

  dispose(): void {
    this.channel.dispose();
  }
}

function write(ch: LogSink, e: LogEntry): void {
  if (e.level === 'error') ch.error(e.text);
  else if (e.level === 'warn') ch.warn(e.text);
  else ch.info(e.text);
}
