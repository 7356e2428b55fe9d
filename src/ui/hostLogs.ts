// One LogOutputChannel per host, fed by the fleet's deduplicated op output: every line once,
// in seq order, whichever connection (or agent process) delivered it; the ops in the order
// they ran, the host's history (replayed from its journal on the first Show Logs) before the op
// that runs now.
//
// Times: a LogOutputChannel stamps each line with the moment it is written (its API, info(),
// warn() and error(), takes no time), so every line here carries its own time, the one the
// agent journalled, in its text. A replayed op is older than what it is shown after, and ops
// are shown in the order they ran, so a late history (or another client's op that started
// earlier) rewrites the channel in order: VS Code's stamps are then all the rewrite's, and
// only the line's own time says when it happened.
import * as vscode from 'vscode';
import type { OpInfo, OutputLine } from '../../protocol';
import type { Fleet } from '../fleet/fleet';
import { blockFooter, blockHeader, lineText, type LogEntry } from './logLines';

/** Lines kept per host (the channel is rewritten from them): older ops go first. */
const MAX_LINES_PER_HOST = 20_000;
/** Ops replayed from the host's journal on the first Show Logs. */
const HISTORY_OPS = 5;

interface Block {
  /** The op id, or `notice:<n>` for a fleet notice not tied to an op. */
  key: string;
  /** When the op started (ISO): the channel's order. */
  startedAt: string;
  kind: string;
  entries: LogEntry[];
}

class HostLog {
  readonly blocks: Block[] = [];
  /** Keys of the blocks as the channel shows them now, in its order. */
  private shown: string[] = [];
  private rewriteTimer: NodeJS.Timeout | undefined;
  history: Promise<OpInfo[]> | undefined;
  private lineCount = 0;

  constructor(readonly channel: vscode.LogOutputChannel) {}

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

  add(b: Block, entries: LogEntry[]): void {
    b.entries.push(...entries);
    this.lineCount += entries.length;
    this.trim();
    // At the channel's end (the usual case: the op that runs now): appended. Anywhere else: rewritten in order.
    const shown = this.shown.includes(b.key) ? this.shown : [...this.shown, b.key];
    const atEnd = this.blocks[this.blocks.length - 1] === b && shown.length === this.blocks.length && this.blocks.every((x, i) => shown[i] === x.key);
    if (atEnd && !this.rewriteTimer) {
      this.shown = shown;
      for (const e of entries) write(this.channel, e);
    } else this.scheduleRewrite();
  }

  private trim(): void {
    while (this.lineCount > MAX_LINES_PER_HOST && this.blocks.length > 1) {
      const dropped = this.blocks.shift()!;
      this.lineCount -= dropped.entries.length;
      this.scheduleRewrite();
    }
    const only = this.blocks[0];
    if (only && this.lineCount > MAX_LINES_PER_HOST) {
      const n = this.lineCount - MAX_LINES_PER_HOST;
      only.entries.splice(1, n, { level: 'warn', text: `… ${n} earlier line(s) of this op are not kept here; the agent's journal has them all` });
      this.lineCount -= n - 1;
    }
  }

  private scheduleRewrite(): void {
    if (this.rewriteTimer) return;
    // Batched: a replay delivers its lines in many small events.
    this.rewriteTimer = setTimeout(() => {
      this.rewriteTimer = undefined;
      this.channel.clear();
      for (const b of this.blocks) for (const e of b.entries) write(this.channel, e);
      this.shown = this.blocks.map((b) => b.key);
    }, 50);
  }

  dispose(): void {
    if (this.rewriteTimer) clearTimeout(this.rewriteTimer);
    this.channel.dispose();
  }
}

function write(ch: vscode.LogOutputChannel, e: LogEntry): void {
  if (e.level === 'error') ch.error(e.text);
  else if (e.level === 'warn') ch.warn(e.text);
  else ch.info(e.text);
}

export class HostLogs implements vscode.Disposable {
  private readonly logs = new Map<string, HostLog>();
  private readonly subscriptions: Array<() => void> = [];
  private notices = 0;

  constructor(private readonly fleet: Fleet) {
    this.subscriptions.push(
      fleet.onOpStart.on(({ host, op }) => void this.opBlock(host, op)),
      fleet.onOutput.on(({ host, op, lines, gap }) => this.output(host, op, lines, gap)),
      fleet.onOpEnd.on(({ host, op }) => {
        const log = this.log(host);
        log.add(this.opBlock(host, op), [blockFooter(op)]);
      }),
      fleet.onNotice.on(({ host, level, text }) => {
        const now = new Date().toISOString();
        const log = this.log(host);
        log.add(log.block(`notice:${++this.notices}`, now, 'notice'), [{ level, text: lineText(now, 'nixfleet', text) }]);
      }),
    );
  }

  /** The host's channel ("NixFleet: h1"). */
  channel(host: string): vscode.LogOutputChannel {
    return this.log(host).channel;
  }

  /**
   * Reveal the host's channel; the first time, its recent ops are replayed from the agent's
   * journal and shown before the ones this window saw. Resolves with the ops replayed.
   */
  async show(host: string, preserveFocus = true): Promise<OpInfo[]> {
    const log = this.log(host);
    log.channel.show(preserveFocus);
    const snap = this.fleet.host(host);
    if (!log.history && snap?.entry && snap.connection !== 'unconfigured') {
      log.history = this.fleet.replayRecent(host, HISTORY_OPS).catch(() => {
        log.history = undefined; // offline now: try again on the next Show Logs
        return [];
      });
    }
    return (await log.history) ?? [];
  }

  private log(host: string): HostLog {
    let log = this.logs.get(host);
    if (!log) {
      log = new HostLog(vscode.window.createOutputChannel(`NixFleet: ${host}`, { log: true }));
      this.logs.set(host, log);
    }
    return log;
  }

  /** The op's block, created with its header when it is new. */
  private opBlock(host: string, op: OpInfo): Block {
    const log = this.log(host);
    const existing = log.blocks.find((b) => b.key === op.id);
    if (existing) return existing;
    const b = log.block(op.id, op.startedAt, op.kind);
    log.add(b, [blockHeader(host, op)]);
    return b;
  }

  private output(host: string, op: string, lines: OutputLine[], gap: { from: number; to: number } | undefined): void {
    const log = this.log(host);
    // Output before the op's start event (should not happen): a block stamped by its first line.
    const b = log.blocks.find((x) => x.key === op) ?? log.block(op, lines[0]?.time ?? new Date().toISOString(), op);
    const entries: LogEntry[] = [];
    if (gap) entries.push({ level: 'warn', text: lineText(lines[0]?.time ?? new Date().toISOString(), b.kind, `lines ${gap.from}-${gap.to} were not received from the agent; see its journal for op ${op}`) });
    for (const l of lines) entries.push({ level: 'info', text: lineText(l.time, b.kind, l.stream === 'info' ? `» ${l.text}` : l.text) });
    log.add(b, entries);
  }

  dispose(): void {
    for (const off of this.subscriptions) off();
    for (const log of this.logs.values()) log.dispose();
    this.logs.clear();
  }
}
