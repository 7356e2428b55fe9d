// The plan view (Plan Deploy): the fleet's plan for a commit, grouped so that hosts with the
// same change set read as one block (package changes, closure size, units per action; "no
// change" hosts marked skipped; "not known" where the platform cannot say), a tick per host,
// and Deploy for the ticked hosts: a rollout that reuses this plan instead of building again.
// The page renders posted JSON with DOM APIs only (no innerHTML from data) under a strict
// CSP, and what it sends back passes webviewMessages.ts and deployHostsFromPlan first.
import * as vscode from 'vscode';
import type { Container } from '../container';
import type { FleetPlan } from '../deploy/fleetPlan';
import { deployHostsFromPlan, planViewModel, PlanSelectionError } from '../deploy/planSelection';
import { deployFromPlan } from '../flows/deployRollout';
import { askFromSummary, showDeploySummary } from './deploySummary';
import { webviewPage } from './webviewPage';
import { parseWebviewMessage, planViewMessage } from './webviewMessages';

export interface PlanRequest {
  commit: string;
  hosts: string[];
}

/** While the plan builds: which hosts are done. */
interface Building {
  request: PlanRequest;
  done: Record<string, string>;
}

let current: PlanViewPanel | undefined;

/** Open (or reveal) the plan view and build the plan for `request`; resolves with the plan. */
export function showPlan(c: Container, request: PlanRequest): Promise<FleetPlan> {
  current ??= new PlanViewPanel(c);
  current.reveal();
  return current.build(request);
}

export class PlanViewPanel implements vscode.Disposable {
  private readonly panel: vscode.WebviewPanel;
  private plan: FleetPlan | undefined;
  private building: Building | undefined;
  private error: string | undefined;
  private deploying = false;
  /** How the last deploy from this plan ended (the plan is then older than those hosts). */
  private deployed: string | undefined;
  private abort: AbortController | undefined;

  constructor(private readonly c: Container) {
    this.panel = vscode.window.createWebviewPanel('nixfleet.plan', 'NixFleet Plan', { viewColumn: vscode.ViewColumn.Active }, { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [] });
    this.panel.webview.html = this.html();
    this.panel.webview.onDidReceiveMessage((m: unknown) => void this.onMessage(m));
    this.panel.onDidDispose(() => this.dispose());
  }

  reveal(): void {
    this.panel.reveal(undefined, false);
  }

  async build(request: PlanRequest): Promise<FleetPlan> {
    this.abort?.abort();
    const abort = (this.abort = new AbortController());
    this.plan = undefined;
    this.error = undefined;
    this.deployed = undefined;
    const building: Building = (this.building = { request, done: {} });
    this.post();
    try {
      const plan = await this.c.editor.withProgress({ title: `NixFleet: planning ${request.commit.slice(0, 12)} on ${request.hosts.length} host(s)`, cancellable: true }, (progress, signal) => {
        signal.addEventListener('abort', () => abort.abort(), { once: true });
        return this.c.deploys.plan(request.commit, request.hosts, {
          signal: abort.signal,
          onHost: (h) => {
            building.done[h.host] = h.state === 'planned' ? (h.plan!.noChange ? 'no change' : 'planned') : 'plan failed';
            progress.report(`${Object.keys(building.done).length}/${request.hosts.length} hosts planned`);
            this.post();
          },
        });
      });
      if (this.building === building) {
        this.building = undefined;
        this.plan = plan;
        this.post();
      }
      return plan;
    } catch (err) {
      if (this.building === building) {
        this.building = undefined;
        this.error = `the plan could not be built: ${(err as Error).message}`;
        this.post();
      }
      throw err;
    }
  }

  private post(): void {
    const model = this.plan ? planViewModel(this.plan) : undefined;
    void this.panel.webview.postMessage({
      type: 'plan',
      model,
      building: this.building ? { commit: this.building.request.commit, hosts: this.building.request.hosts.map((h) => ({ host: h, state: this.building!.done[h] ?? 'building' })) } : undefined,
      error: this.error,
      deploying: this.deploying,
      deployed: this.deployed,
    });
  }

  private async onMessage(raw: unknown): Promise<void> {
    const msg = parseWebviewMessage(planViewMessage, raw);
    if (!msg) return;
    if (msg.type === 'ready') return this.post();
    const plan = this.plan;
    if (msg.type === 'logs') {
      if (plan?.hosts.some((h) => h.host === msg.host)) this.c.logs.show(msg.host, false);
      return;
    }
    // A page showing an older plan (replanned since) must not deploy what it shows.
    if (!plan || msg.plan !== plan.id) {
      void this.c.editor.showWarningMessage('NixFleet: this plan was replaced by a newer one; look at the new plan and deploy from it.');
      return this.post();
    }
    if (msg.type === 'replan') {
      await this.build({ commit: plan.commit, hosts: plan.hosts.map((h) => h.host) }).catch(() => undefined);
      return;
    }
    if (this.deploying) return;
    let hosts: string[];
    try {
      hosts = deployHostsFromPlan(plan, msg.hosts);
    } catch (err) {
      if (err instanceof PlanSelectionError) {
        void this.c.editor.showErrorMessage(`NixFleet: ${err.message}`);
        return;
      }
      throw err;
    }
    this.deploying = true;
    this.post();
    try {
      showDeploySummary(this.c, undefined);
      const record = await deployFromPlan(this.c, plan, hosts, { ask: askFromSummary(this.c), onRecord: (r) => showDeploySummary(this.c, r) }, { trusted: this.c.trusted });
      if (this.plan === plan) this.deployed = `Deployed from this plan as deploy ${record.id} (${record.state}; see NixFleet Deploy). Hosts it switched now run the commit: plan again before deploying them from here.`;
    } catch (err) {
      void this.c.editor.showErrorMessage(`NixFleet: Deploy: ${(err as Error).message}`);
    } finally {
      this.deploying = false;
      this.post();
    }
  }

  private html(): string {
    return webviewPage({
      style: `
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 12px 24px; }
section.group { border: 1px solid var(--vscode-panel-border); border-radius: 4px; margin: 10px 0; padding: 6px 10px; }
section.group h3 { margin: 4px 0; font-size: 1.05em; }
section.no-change h3, section.no-change .hosts { color: var(--vscode-descriptionForeground); }
section.failed h3 { color: var(--vscode-testing-iconFailed); }
table { border-collapse: collapse; margin: 4px 0; }
th, td { text-align: left; padding: 2px 10px 2px 0; vertical-align: top; }
td.pkg, .units span { font-family: var(--vscode-editor-font-family); }
.units div { margin: 2px 0; }
.hosts label { display: inline-block; margin: 2px 14px 2px 0; }
.hosts .note { color: var(--vscode-descriptionForeground); margin-left: 4px; }
.meta { color: var(--vscode-descriptionForeground); }
.error { color: var(--vscode-errorForeground); }
button { margin-right: 6px; color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: none; padding: 4px 10px; cursor: pointer; }
button.secondary { color: var(--vscode-button-secondaryForeground); background: var(--vscode-button-secondaryBackground); }
button:disabled { opacity: 0.5; cursor: default; }
`,
      body: `<h2 id="headline">No plan yet</h2><div class="meta" id="meta"></div><div id="actions"></div><div id="groups"></div>`,
      script: `
const vscode = acquireVsCodeApi();
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
// The ticks survive a repaint of the same plan; a new plan starts from its default ticks.
let shownPlan; const ticked = new Set();
function render(m) {
  const head = document.getElementById('headline'), meta = document.getElementById('meta'), actions = document.getElementById('actions'), groups = document.getElementById('groups');
  actions.replaceChildren(); groups.replaceChildren(); meta.textContent = '';
  if (m.error) { head.textContent = 'Plan failed'; meta.appendChild(el('span', m.error, 'error')); return; }
  if (m.building) {
    head.textContent = 'Planning commit ' + m.building.commit.slice(0, 12) + '…';
    meta.textContent = 'Every host builds the commit without activating it.';
    const t = el('table'); for (const h of m.building.hosts) { const tr = el('tr'); tr.appendChild(el('td', h.host)); tr.appendChild(el('td', h.state)); t.appendChild(tr); } groups.appendChild(t);
    return;
  }
  const p = m.model; if (!p) { head.textContent = 'No plan yet'; return; }
  if (shownPlan !== p.id) { shownPlan = p.id; ticked.clear(); for (const g of p.groups) for (const r of g.rows) if (r.selected) ticked.add(r.host); }
  head.textContent = p.headline;
  meta.textContent = 'made ' + p.madeAt + ' · hosts with the same change are one group; "no change" hosts are skipped by the deploy';
  if (m.deployed) { const d = el('div', m.deployed); d.id = 'deployed'; meta.appendChild(d); }
  const deploy = el('button', ''); deploy.id = 'deploy';
  const again = el('button', 'Plan Again', 'secondary'); again.id = 'replan';
  const label = () => { deploy.textContent = m.deploying ? 'Deploying…' : 'Deploy ' + ticked.size + ' Selected Host' + (ticked.size === 1 ? '' : 's'); deploy.disabled = m.deploying || ticked.size === 0; };
  label();
  deploy.addEventListener('click', () => vscode.postMessage({ type: 'deploy', plan: p.id, hosts: [...ticked] }));
  again.disabled = !!m.deploying;
  again.addEventListener('click', () => vscode.postMessage({ type: 'replan', plan: p.id }));
  actions.appendChild(deploy); actions.appendChild(again);
  for (const g of p.groups) {
    const s = el('section', undefined, 'group ' + g.kind);
    s.dataset.kind = g.kind;
    s.appendChild(el('h3', g.summary));
    if (g.kind === 'change') {
      if (g.packages.length) {
        const t = el('table'); const hr = el('tr'); for (const c of ['Package', 'Change', 'From', 'To']) hr.appendChild(el('th', c)); t.appendChild(hr);
        for (const c of g.packages) { const tr = el('tr'); tr.appendChild(el('td', c.name, 'pkg')); tr.appendChild(el('td', c.change)); tr.appendChild(el('td', c.from.join(', ') || '—')); tr.appendChild(el('td', c.to.join(', ') || '—')); t.appendChild(tr); }
        s.appendChild(t);
      } else s.appendChild(el('div', 'No package version changes.', 'meta'));
      const u = el('div', undefined, 'units');
      if (g.unitLines) { if (!g.unitLines.length) u.appendChild(el('div', 'Units: none would stop, restart, reload or start.')); for (const l of g.unitLines) { const d = el('div', 'Units to ' + l.action + ': '); d.appendChild(el('span', l.units.join(', '))); u.appendChild(d); } }
      else u.appendChild(el('div', 'Units: not known (' + g.unitsNotKnown + ')'));
      s.appendChild(u);
    }
    const hosts = el('div', undefined, 'hosts');
    for (const r of g.rows) {
      const lab = el('label'); lab.dataset.host = r.host;
      const cb = el('input'); cb.type = 'checkbox'; cb.checked = ticked.has(r.host); cb.disabled = !r.selectable || !!m.deploying;
      cb.addEventListener('change', () => { if (cb.checked) ticked.add(r.host); else ticked.delete(r.host); label(); });
      lab.appendChild(cb); lab.appendChild(el('span', r.host)); lab.appendChild(el('span', r.note, 'note'));
      hosts.appendChild(lab);
    }
    s.appendChild(hosts);
    groups.appendChild(s);
  }
}
window.addEventListener('message', (e) => { if (e.data && e.data.type === 'plan') render(e.data); });
vscode.postMessage({ type: 'ready' });
`,
    });
  }

  dispose(): void {
    this.abort?.abort();
    if (current === this) current = undefined;
  }
}
