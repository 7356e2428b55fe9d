// The status bar summary ("3/4 online, 1 failing"); a click focuses the Fleet view.
import * as vscode from 'vscode';
import type { Container } from '../container';
import { summarise } from '../fleet/summary';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('nixfleet.summary', vscode.StatusBarAlignment.Left, 50);
  private readonly off: () => void;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly c: Container) {
    this.item.name = 'NixFleet';
    this.item.command = 'nixfleet.focus';
    this.off = c.fleet.onDidChange.on(() => {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.render();
      }, 100);
    });
    this.render();
    this.item.show();
  }

  render(): void {
    const hosts = this.c.fleet.hosts();
    if (!this.c.fleet.isStarted) {
      this.item.text = `$(server-environment) NixFleet${hosts.length ? `: ${hosts.length} hosts` : ''}`;
      this.item.tooltip = 'NixFleet: open the Fleet view to connect to the hosts';
      this.item.backgroundColor = undefined;
      return;
    }
    const s = summarise(hosts);
    this.item.text = `$(${s.level === 'ok' ? 'server-environment' : s.level === 'warn' ? 'warning' : 'error'}) ${s.text}`;
    this.item.tooltip = s.tooltip;
    this.item.backgroundColor = s.level === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : s.level === 'warn' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
  }

  get text(): string {
    return this.item.text;
  }

  dispose(): void {
    this.off();
    if (this.timer) clearTimeout(this.timer);
    this.item.dispose();
  }
}
