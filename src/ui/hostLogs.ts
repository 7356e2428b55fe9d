// One LogOutputChannel per host, fed by the fleet's deduplicated op output: every line once,
// in seq order, whichever connection (or agent process) delivered it; the ops in the order
// they ran, the host's history (replayed from its journal on the first Show Logs) before the op
// that runs now.
// The order and the rewrite are logLines.ts's (no VS Code there: unit-tested).
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
import { blockFooter, blockHeader, HostLog, lineText, type Block, type LogEntry } from './logLines';

/** Ops replayed from the host's journal on the first Show Logs. */
const HISTORY_OPS = 5;

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

  private log(host: string): HostLog<vscode.LogOutputChannel> {
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
