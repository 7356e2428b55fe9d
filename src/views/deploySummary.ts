// The deploy summary webview: one row per host (outcome, generation before → after, the
// failing line, its log one click away), a rollout's waves as sections (state, soak time
// left, gate passed or failed, halted, hosts per wave), the undo actions, updated live from
// the deploy service's events. After a halt: the failure policy question (while the rollout
// asks), Retry Failed Hosts and Resume; after a preflight refusal only Push / Try Again
// (nothing was deployed). The page renders from posted JSON with DOM APIs only (no
// innerHTML from data), under a strict CSP; what it sends passes webviewMessages.ts.
import * as vscode from 'vscode';
import type { Container } from '../container';
import type { FailurePolicy } from '../deploy/rolloutTypes';
import { summarizeDeploy } from '../deploy/summary';
import type { DeployRecord } from '../deploy/types';
import { pushAndRetry, resumeRolloutFlow, retryFailedFlow, type AskPolicy, type RolloutRun } from '../flows/deployRollout';
import { undoActions, type UndoActions } from '../flows/deployUndo';
import { webviewPage } from './webviewPage';
import { parseWebviewMessage, summaryMessage } from './webviewMessages';

/** Open (or reveal) the live deploy summary for `record`; the container holds the one panel. */
export function showDeploySummary(c: Container, record: DeployRecord | undefined): DeploySummaryPanel {
  if (c.deploySummary instanceof DeploySummaryPanel) c.deploySummary.reveal();
  else c.deploySummary = new DeploySummaryPanel(c, undoActions(c), (listener) => c.deploys.onEvent.on(listener));
  const panel = c.deploySummary as DeploySummaryPanel;
  panel.setRecord(record);
  return panel;
}

const POLICY_CHOICES: { policy: FailurePolicy; label: string }[] = [
  { policy: 'keep', label: 'Keep Switched Hosts' },
  { policy: 'rollback-wave', label: 'Roll Back Failed Wave' },
  { policy: 'rollback-all', label: 'Roll Back Everything' },
];

/**
 * The "ask" failure policy from the editor: the question in the summary (buttons) and in a
 * notification; the first answer wins. Closing the summary while no notification answered
 * keeps the hosts as they are (the least change), and says so.
 */
export function askFromSummary(c: Container): AskPolicy {
  return ({ record, wave, failed }) =>
    new Promise<FailurePolicy>((resolve) => {
      const w = record.rollout?.waves[wave];
      const text = `Wave ${wave + 1}${w ? ` (${w.name})` : ''} failed on ${failed.join(', ') || 'its hosts'}; the rollout halted and later waves will not run. What happens to the hosts that already switched?`;
      let answered = false;
      const answer = (p: FailurePolicy) => {
        if (answered) return;
        answered = true;
        panel.setQuestion(undefined);
        resolve(p);
      };
      const panel = showDeploySummary(c, record);
      panel.setQuestion({ deploy: record.id, text, choices: POLICY_CHOICES, answer, onClosed: () => {
        if (answered) return;
        void c.editor.showWarningMessage('NixFleet: the deploy summary was closed without an answer: the hosts that switched keep the new generation (keep).');
        answer('keep');
      } });
      void c.editor.showWarningMessage(`NixFleet: ${text}`, ...POLICY_CHOICES.map((p) => p.label)).then((label) => {
        const picked = POLICY_CHOICES.find((p) => p.label === label);
        if (picked) answer(picked.policy);
      });
    });
}

interface Question {
  deploy: string;
  text: string;
  choices: { policy: FailurePolicy; label: string }[];
  answer(p: FailurePolicy): void;
  onClosed(): void;
}

export class DeploySummaryPanel implements vscode.Disposable {
  private readonly subs: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private record: DeployRecord | undefined;
  private question: Question | undefined;
  /** A resume, retry or push started here is running: its buttons stay off. */
  private busy = false;
  private disposed = false;

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

  /** The halted rollout's policy question while it waits for an answer (undefined: none). */
  setQuestion(q: Question | undefined): void {
    this.question = q;
    this.queue();
  }

  /** Events come per host and per phase: batch them into one repaint per 100 ms. */
  private queue(): void {
    if (this.timer || this.disposed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const q = this.question && this.question.deploy === this.record?.id ? { deploy: this.question.deploy, text: this.question.text, choices: this.question.choices } : undefined;
      const running = this.c.deploys.busy || this.busy;
      void this.panel.webview.postMessage({ type: 'summary', summary: this.record ? summarizeDeploy(this.record) : undefined, question: q, running });
    }, 100);
  }

  private async onMessage(raw: unknown): Promise<void> {
    const msg = parseWebviewMessage(summaryMessage, raw);
    if (!msg) return;
    const record = this.record;
    if (msg.type === 'ready') return this.queue();
    if (msg.type === 'logs') {
      if (record?.hosts.some((h) => h.host === msg.host)) this.c.logs.show(msg.host, false);
      return;
    }
    if (msg.type === 'policy') {
      const q = this.question;
      if (q && q.deploy === msg.deploy && record?.id === msg.deploy) q.answer(msg.policy);
      return;
    }
    if (!record) return;
    const s = summarizeDeploy(record);
    // The page may be stale: act only when the record, as it is now, offers the action.
    if (msg.action === 'revert' && s.canRevert) await this.actions.revert(record);
    else if (msg.action === 'rollback' && s.canRollback) await this.actions.rollback(record);
    else if (msg.action === 'revert-rollback' && s.canRevert && s.canRollback) await this.actions.revertAndRollback(record);
    else if ((msg.action === 'resume' && s.canResume) || (msg.action === 'retry-failed' && s.retryHosts.length) || (msg.action === 'push' && s.canPush)) {
      if (this.busy || this.c.deploys.busy) return;
      const run: RolloutRun = { ask: askFromSummary(this.c), onRecord: (r) => this.setRecord(r) };
      this.busy = true;
      this.queue();
      try {
        if (msg.action === 'resume') await resumeRolloutFlow(this.c, record, run);
        else if (msg.action === 'retry-failed') await retryFailedFlow(this.c, record, run);
        else await pushAndRetry(this.c, record, run);
      } catch (err) {
        void this.c.editor.showErrorMessage(`NixFleet: ${(err as Error).message}`);
      } finally {
        this.busy = false;
      }
    }
    this.queue();
  }

  private html(): string {
    return webviewPage({
      style: `
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 12px; }
table { border-collapse: collapse; width: 100%; margin-top: 8px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--vscode-panel-border); vertical-align: top; }
td.line { font-family: var(--vscode-editor-font-family); white-space: pre-wrap; overflow-wrap: anywhere; min-width: 32ch; }
td:last-child { white-space: nowrap; }
.tone-ok, .wave-passed { color: var(--vscode-testing-iconPassed); }
.tone-bad, .wave-failed { color: var(--vscode-testing-iconFailed); }
.tone-idle, .wave-pending, .wave-not-attempted { color: var(--vscode-disabledForeground); }
.tone-busy, .wave-running, .wave-soaking, .wave-gating { color: var(--vscode-charts-blue); }
.tone-undone { color: var(--vscode-charts-yellow); }
#waves section { border-left: 3px solid var(--vscode-panel-border); margin: 8px 0; padding: 2px 10px; }
#waves section.halted { border-left-color: var(--vscode-testing-iconFailed); }
#waves h3 { margin: 2px 0; font-size: 1em; }
#waves .hosts span { margin-right: 14px; display: inline-block; }
#question { border: 1px solid var(--vscode-inputValidation-warningBorder); padding: 6px 10px; margin: 8px 0; }
#question:empty, #preflight:empty { display: none; }
#preflight { margin: 8px 0; }
button { margin-right: 6px; color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: none; padding: 4px 10px; cursor: pointer; }
button.link { background: none; color: var(--vscode-textLink-foreground); padding: 0; }
details pre { font-family: var(--vscode-editor-font-family); margin: 4px 0; }
.meta { color: var(--vscode-descriptionForeground); }
`,
      body: `<h2 id="headline">No deploy yet</h2><div class="meta" id="meta"></div><div id="preflight"></div><div id="question"></div><div id="actions"></div><div id="waves"></div>
<table><thead><tr><th>Host</th><th>Outcome</th><th>Generation</th><th>Failing line</th><th></th></tr></thead><tbody id="rows"></tbody></table>`,
      script: `
const vscode = acquireVsCodeApi();
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
const left = (until) => { const ms = Date.parse(until) - Date.now(); if (!(ms > 0)) return 'gate next'; const t = Math.ceil(ms / 1000); return (t >= 60 ? Math.floor(t / 60) + 'm ' : '') + (t % 60) + 's left'; };
let soakTimer;
function render(s, question, running) {
  document.getElementById('headline').textContent = s ? s.headline : 'No deploy yet';
  const meta = document.getElementById('meta');
  meta.textContent = s ? s.target + ' · by ' + s.who + ' · started ' + s.startedAt + (s.endedAt ? ' · ended ' + s.endedAt : '') + (s.revert ? ' · ' + s.revert : '') : '';
  const pre = document.getElementById('preflight');
  pre.replaceChildren();
  for (const p of s ? s.preflight : []) pre.appendChild(el('div', 'Preflight: ' + p, 'tone-bad'));
  const q = document.getElementById('question');
  q.replaceChildren();
  if (question) {
    q.appendChild(el('div', question.text));
    for (const c of question.choices) { const b = el('button', c.label); b.dataset.policy = c.policy; b.addEventListener('click', () => vscode.postMessage({ type: 'policy', deploy: question.deploy, policy: c.policy })); q.appendChild(b); }
  }
  const actions = document.getElementById('actions');
  actions.replaceChildren();
  const add = (label, action) => { const b = el('button', label); b.disabled = !!running; b.addEventListener('click', () => vscode.postMessage({ type: 'action', action })); actions.appendChild(b); };
  if (s && !question) {
    if (s.canPush) add('Push', 'push');
    if (s.retryHosts.length) add('Retry Failed Hosts', 'retry-failed');
    if (s.canResume) add(s.preflight.length && !s.retryHosts.length ? 'Try Again' : 'Resume', 'resume');
    if (s.canRevert) add(s.revertLabel, 'revert');
    if (s.canRollback) add('Rollback Deployed Hosts', 'rollback');
    if (s.canRevert && s.canRollback) add('Revert + Rollback', 'revert-rollback');
  }
  const waves = document.getElementById('waves');
  waves.replaceChildren();
  clearInterval(soakTimer);
  const byHost = new Map((s ? s.rows : []).map((r) => [r.host, r]));
  for (const [i, w] of (s ? s.waves : []).entries()) {
    const sec = el('section', undefined, 'wave-' + w.state + (w.halted ? ' halted' : ''));
    sec.dataset.state = w.state;
    const h = el('h3', 'Wave ' + (i + 1) + '/' + s.waves.length + ' · ' + w.name + ' · ');
    const st = el('span', w.halted ? 'failed: rollout halted here' : w.stateLabel, 'wave-' + w.state);
    h.appendChild(st);
    if (w.soakUntil) { const tick = () => { st.textContent = 'soaking, ' + left(w.soakUntil); }; tick(); soakTimer = setInterval(tick, 1000); }
    sec.appendChild(h);
    if (w.detail) sec.appendChild(el('div', w.detail, 'meta'));
    const hs = el('div', undefined, 'hosts');
    for (const name of w.hosts) { const r = byHost.get(name); const sp = el('span', name + ': ' + (r ? r.label + (r.phase && r.outcome === 'running' ? ' (' + r.phase + ')' : '') : '?'), r ? 'tone-' + r.tone : ''); sp.dataset.host = name; hs.appendChild(sp); }
    sec.appendChild(hs);
    waves.appendChild(sec);
  }
  const rows = document.getElementById('rows');
  rows.replaceChildren();
  for (const r of s ? s.rows : []) {
    const tr = document.createElement('tr');
    tr.appendChild(el('td', r.host + (r.role ? ' (canary)' : '')));
    tr.appendChild(el('td', r.label + (r.phase && r.outcome === 'running' ? ': ' + r.phase : ''), r.outcome + ' tone-' + r.tone));
    tr.appendChild(el('td', r.generations));
    const line = el('td', r.failingLine, 'line');
    if (r.closureDiff.length) { const d = el('details'); d.appendChild(el('summary', 'closure diff (' + r.closureDiff.length + ')')); d.appendChild(el('pre', r.closureDiff.join('\\n'))); line.appendChild(d); }
    tr.appendChild(line);
    const logs = el('td'); const b = el('button', 'View Logs', 'link'); b.addEventListener('click', () => vscode.postMessage({ type: 'logs', host: r.host })); logs.appendChild(b); tr.appendChild(logs);
    rows.appendChild(tr);
  }
}
window.addEventListener('message', (e) => { if (e.data && e.data.type === 'summary') render(e.data.summary, e.data.question, e.data.running); });
vscode.postMessage({ type: 'ready' });
`,
    });
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    const q = this.question;
    this.question = undefined;
    q?.onClosed();
    for (const s of this.subs.splice(0)) s();
    if (this.c.deploySummary === this) this.c.deploySummary = undefined;
  }
}
