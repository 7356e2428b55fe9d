// One LogOutputChannel per host, fed by the fleet's deduplicated op output: every line once,
// in seq order, whichever connection (or agent process) delivered it; the ops in the order
// they ran: the host's history (its recent ops, replayed from the agent's journal when the
// channel is made) before the op that runs now. The order is logLines.ts's (no VS Code there:
// unit-tested).
//
// Times: a LogOutputChannel stamps each line with the moment it is written (its API, info(),
// warn() and error(), takes no time), and a replayed history is written after the fact; so
// every line here carries its own time, the one the agent journalled, in its text.
import * as vscode from 'vscode';
import type { OpInfo, OutputLine } from '../../protocol';
import type { Fleet } from '../fleet/fleet';
import { blockFooter, blockHeader, HostLog, lineText, type Block, type LogEntry } from './logLines';

/** Ops replayed from the host's journal when its channel is made. */
const HISTORY_OPS = 5;
/** How long a new channel waits for the history before it shows what comes live. */
const HOLD_MS = 5000;

export class HostLogs implements vscode.Disposable {
  private readonly logs = new Map<string, HostLog<vscode.LogOutputChannel>>();
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
      // A notice (a magic-rollback confirmation) is about the op that runs: it goes with the latest op.
      fleet.onNotice.on(({ host, level, text }) => {
        const now = new Date().toISOString();
        const log = this.log(host);
        const b = log.blocks[log.blocks.length - 1] ?? log.block(`notice:${++this.notices}`, now, 'nixfleet');
        log.add(b, [{ level, text: lineText(now, 'nixfleet', text) }]);
      }),
    );
  }

  /** The host's channel ("NixFleet: h1"). */
  channel(host: string): vscode.LogOutputChannel {
    return this.log(host).channel;
  }

  /**
   * Reveal the host's channel (its recent ops replayed from the agent's journal when they were
   * not loaded yet). Resolves with the ops replayed.
   */
  async show(host: string, preserveFocus = true): Promise<OpInfo[]> {
    const log = this.log(host);
    log.channel.show(preserveFocus);
    if (!log.history) {
      this.loadHistory(host, log);
      return (await log.history) ?? [];
    }
    await log.history;
    // Ops this window has not seen since (run while it was away from the host) come now, marked late.
    const snap = this.fleet.host(host);
    return snap?.entry && snap.connection !== 'unconfigured' ? this.fleet.replayRecent(host, HISTORY_OPS).catch(() => []) : [];
  }

  private log(host: string): HostLog<vscode.LogOutputChannel> {
    let log = this.logs.get(host);
    if (!log) {
      log = new HostLog(vscode.window.createOutputChannel(`NixFleet: ${host}`, { log: true }));
      this.logs.set(host, log);
      // Before the first line is written: the history goes first (see HostLog).
      this.loadHistory(host, log);
    }
    return log;
  }

  /** Replay the host's recent ops into its log, once; the log is held (for at most a few seconds) meanwhile. */
  private loadHistory(host: string, log: HostLog<vscode.LogOutputChannel>): void {
    const snap = this.fleet.host(host);
    if (log.history || !snap?.entry || snap.connection === 'unconfigured') return;
    log.hold();
    const timer = setTimeout(() => log.release(), HOLD_MS);
    log.history = this.fleet
      .replayRecent(host, HISTORY_OPS)
      .catch(() => {
        log.history = undefined; // offline now: try again on the next Show Logs
        return [];
      })
      .finally(() => {
        clearTimeout(timer);
        log.release();
      });
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
