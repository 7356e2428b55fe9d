// One LogOutputChannel per host, fed by the fleet's deduplicated op output: every line once,
// in seq order, whichever connection (or agent process) delivered it.
import * as vscode from 'vscode';
import type { Fleet } from '../fleet/fleet';
import type { OpInfo } from '../../protocol';

export class HostLogs implements vscode.Disposable {
  private readonly channels = new Map<string, vscode.LogOutputChannel>();
  private readonly subscriptions: Array<() => void> = [];
  private readonly kinds = new Map<string, string>();

  constructor(private readonly fleet: Fleet) {
    this.subscriptions.push(
      fleet.onOpStart.on(({ host, op }) => this.started(host, op)),
      fleet.onOutput.on(({ host, op, lines, gap }) => {
        const ch = this.channel(host);
        const tag = this.tag(op);
        if (gap) ch.warn(`${tag} lines ${gap.from}-${gap.to} were not received from the agent; see its journal for op ${op}`);
        for (const l of lines) {
          if (l.stream === 'stderr') ch.info(`${tag} ${l.text}`);
          else if (l.stream === 'info') ch.info(`${tag} » ${l.text}`);
          else ch.info(`${tag} ${l.text}`);
        }
      }),
      fleet.onOpEnd.on(({ host, op }) => this.ended(host, op)),
      fleet.onNotice.on(({ host, level, text }) => (level === 'warn' ? this.channel(host).warn(text) : this.channel(host).info(text))),
    );
  }

  channel(host: string): vscode.LogOutputChannel {
    let ch = this.channels.get(host);
    if (!ch) {
      ch = vscode.window.createOutputChannel(`NixFleet: ${host}`, { log: true });
      this.channels.set(host, ch);
    }
    return ch;
  }

  show(host: string, preserveFocus = true): void {
    this.channel(host).show(preserveFocus);
  }

  private tag(op: string): string {
    return `[${this.kinds.get(op) ?? op}]`;
  }

  private started(host: string, op: OpInfo): void {
    this.kinds.set(op.id, op.kind);
    const params = Object.keys(op.params).length ? ' ' + JSON.stringify(op.params) : '';
    this.channel(host).info(`[${op.kind}] ▶ ${op.kind}${params} on ${host}, started ${op.startedAt} by ${op.client.name} (op ${op.id})`);
  }

  private ended(host: string, op: OpInfo): void {
    const ch = this.channel(host);
    const secs = op.endedAt ? ` in ${((Date.parse(op.endedAt) - Date.parse(op.startedAt)) / 1000).toFixed(1)} s` : '';
    const line = `[${op.kind}] ■ ${op.kind} ${op.state}${secs}${op.error ? ': ' + op.error : ''} (op ${op.id})`;
    if (op.state === 'succeeded') ch.info(line);
    else if (op.state === 'cancelled') ch.warn(line);
    else ch.error(line);
  }

  dispose(): void {
    for (const off of this.subscriptions) off();
    for (const ch of this.channels.values()) ch.dispose();
    this.channels.clear();
  }
}
