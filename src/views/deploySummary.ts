// The deploy summary webview: one row per host (outcome, generation before → after, the
// failing line, its log one click away), the undo actions, updated live from the deploy
// service's events. The page renders from posted JSON with DOM APIs only (no innerHTML
// from data), under a strict CSP.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { Container, SummaryPanel } from '../container';
import { summarizeDeploy } from '../deploy/summary';
import type { DeployRecord } from '../deploy/types';
import { undoActions, type UndoActions } from '../flows/deployUndo';

/** Open (or reveal) the live deploy summary for `record`; the container holds the one panel. */
export function showDeploySummary(c: Container, record: DeployRecord | undefined): SummaryPanel {
  if (c.deploySummary) c.deploySummary.reveal();
  else c.deploySummary = new DeploySummaryPanel(c, undoActions(c), (listener) => c.deploys.onEvent.on(listener));
  c.deploySummary.setRecord(record);
  return c.deploySummary;
}

export class DeploySummaryPanel implements vscode.Disposable, SummaryPanel {
  private readonly subs: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private record: DeployRecord | undefined;

  private readonly panel: vscode.WebviewPanel;

  constructor(
    private readonly c: Container,
    private readonly actions: UndoActions,
    onEvents: (l: () => void) => () => void,
  ) {
    this.panel = vscode.window.createWebviewPanel('nixfleet.deploySummary', 'NixFleet Deploy', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [] });
    this.panel.webview.html = this.html();
    this.subs.push(onEvents(() => this.queue()));
    this.panel.webview.onDidReceiveMessage((m: unknown) => void this.onMessage(m));
    this.panel.onDidDispose(() => this.dispose());
  }

  reveal(): void {
    this.panel.reveal(vscode.ViewColumn.Beside, true);
  }

  setRecord(record: DeployRecord | undefined): void {
    this.record = record;
    this.queue();
  }

  /** Events come per host and per phase: batch them into one repaint per 100 ms. */
  private queue(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.panel.webview.postMessage({ type: 'summary', summary: this.record ? summarizeDeploy(this.record) : undefined });
    }, 100);
  }

  private async onMessage(m: unknown): Promise<void> {
    if (!m || typeof m !== 'object') return;
    const msg = m as { type?: unknown; host?: unknown; action?: unknown };
    const record = this.record;
    if (msg.type === 'ready') return this.queue();
    if (msg.type === 'logs' && typeof msg.host === 'string' && record?.hosts.some((h) => h.host === msg.host)) {
      this.c.logs.show(msg.host, false);
      return;
    }
    if (msg.type !== 'action' || !record) return;
    if (msg.action === 'revert') await this.actions.revert(record);
    else if (msg.action === 'rollback') await this.actions.rollback(record);
    else if (msg.action === 'revert-rollback') await this.actions.revertAndRollback(record);
    this.queue();
  }

  private html(): string {
    const nonce = randomBytes(16).toString('base64');
    const csp = `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}';`;
    return `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<style nonce="${nonce}">
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 12px; }
table { border-collapse: collapse; width: 100%; margin-top: 8px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--vscode-panel-border); vertical-align: top; }
td.line { font-family: var(--vscode-editor-font-family); white-space: pre-wrap; word-break: break-all; }
.succeeded, .rolled-back { color: var(--vscode-testing-iconPassed); }
.failed-switch, .failed-checks, .rollback-failed { color: var(--vscode-testing-iconFailed); }
.not-attempted, .pending { color: var(--vscode-disabledForeground); }
button { margin-right: 6px; color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: none; padding: 4px 10px; cursor: pointer; }
button.link { background: none; color: var(--vscode-textLink-foreground); padding: 0; }
details pre { font-family: var(--vscode-editor-font-family); margin: 4px 0; }
.meta { color: var(--vscode-descriptionForeground); }
</style></head><body>
<h2 id="headline">No deploy yet</h2><div class="meta" id="meta"></div><div id="actions"></div>
<table><thead><tr><th>Host</th><th>Outcome</th><th>Generation</th><th>Failing line</th><th></th></tr></thead><tbody id="rows"></tbody></table>
<script nonce="${nonce}">
const vscode = acquireVsCodeApi();
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
function render(s) {
  document.getElementById('headline').textContent = s ? s.headline : 'No deploy yet';
  const meta = document.getElementById('meta');
  meta.textContent = s ? s.target + ' · by ' + s.who + ' · started ' + s.startedAt + (s.endedAt ? ' · ended ' + s.endedAt : '') + (s.revert ? ' · ' + s.revert : '') : '';
  const actions = document.getElementById('actions');
  actions.replaceChildren();
  if (s && (s.canRevert || s.canRollback)) {
    const add = (label, action) => { const b = el('button', label); b.addEventListener('click', () => vscode.postMessage({ type: 'action', action })); actions.appendChild(b); };
    if (s.canRevert) add(s.revertLabel, 'revert');
    if (s.canRollback) add('Rollback Deployed Hosts', 'rollback');
    if (s.canRevert && s.canRollback) add('Revert + Rollback', 'revert-rollback');
  }
  const rows = document.getElementById('rows');
  rows.replaceChildren();
  for (const r of s ? s.rows : []) {
    const tr = document.createElement('tr');
    tr.appendChild(el('td', r.host + (r.role ? ' (canary)' : '')));
    tr.appendChild(el('td', r.label + (r.phase && r.outcome === 'running' ? ': ' + r.phase : ''), r.outcome));
    tr.appendChild(el('td', r.generations));
    const line = el('td', r.failingLine, 'line');
    if (r.closureDiff.length) { const d = el('details'); d.appendChild(el('summary', 'closure diff (' + r.closureDiff.length + ')')); d.appendChild(el('pre', r.closureDiff.join('\\n'))); line.appendChild(d); }
    tr.appendChild(line);
    const logs = el('td'); const b = el('button', 'View Logs', 'link'); b.addEventListener('click', () => vscode.postMessage({ type: 'logs', host: r.host })); logs.appendChild(b); tr.appendChild(logs);
    rows.appendChild(tr);
  }
}
window.addEventListener('message', (e) => { if (e.data && e.data.type === 'summary') render(e.data.summary); });
vscode.postMessage({ type: 'ready' });
</script></body></html>`;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const s of this.subs.splice(0)) s();
    if (this.c.deploySummary === this) this.c.deploySummary = undefined;
  }
}
