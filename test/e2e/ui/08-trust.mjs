// Workspace trust: the same window reloaded with trust turned on, so the test-bed folder (never
// trusted in this browser profile) opens in Restricted Mode. The Fleet view stays (read-only:
// it says so), the tree offers no command that changes a host, and a mutating command run
// from the palette is refused with the reason and a way to trust, while nothing runs on any
// host (no new op in the agents' state dirs, no activation, no lock).
//
// How VS Code 1.100 decides (workbench.js, WorkspaceTrustManagementService): trust is on only
// when the server was started without --disable-workspace-trust AND the setting
// `security.workspace.trust.enabled` is true; then a vscode-remote folder is trusted only if
// the remote authority's resolver says so (code-server's does not) or the folder is in the
// trusted-folders list (application storage, in the browser), which a fresh profile has empty.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { sel } from '../lib/browser.mjs';
import { childrenOf, showGenerations } from './02-fleet.mjs';
import { openFleetView, rowLocator, runPaletteCommand, treeRows, waitNotification, waitRow, waitTree } from '../lib/workbench.mjs';

// Every command that changes a host (package.json: view/item/context with isWorkspaceTrusted).
const MUTATING = ['Force Rebuild', 'Force Rebuild from Source', 'Switch', 'Rebuild Smart', 'Rollback', 'Run Tests', 'Pull Checkout', 'Update Agent', 'Rollback to This Generation', 'Cancel Operation'];

/** What a host has on disk that any op would change: op dirs, activations, the host lock. */
function hostFootprint(fleet) {
  return fleet.bed.hosts.map((h) => {
    const ops = path.join(h.stateDir, 'ops');
    return {
      host: h.name,
      ops: existsSync(ops) ? readdirSync(ops).sort().join(',') : '',
      activations: readFileSync(h.activationLog, 'utf8').split('\n').filter(Boolean).length,
      lock: existsSync(path.join(h.stateDir, 'lock')),
      generation: fleet.currentGeneration(h.name),
    };
  });
}

/**
 * Labels of the context menu of `row` (then closed again). `mayBeEmpty`: VS Code opens no menu
 * at all when every item is hidden, so no menu within a few seconds means no items.
 */
async function menuLabels(page, row, { mayBeEmpty = false } = {}) {
  await row.click({ button: 'right' });
  const menu = page.locator('.context-view .monaco-menu');
  try {
    await menu.waitFor({ timeout: mayBeEmpty ? 3_000 : 10_000 });
  } catch (err) {
    if (mayBeEmpty) return [];
    throw err;
  }
  const labels = (await menu.locator('.action-item .action-label').allInnerTexts()).map((s) => s.trim()).filter(Boolean);
  await page.keyboard.press('Escape');
  await menu.waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => {});
  return labels;
}

async function reload(ctx) {
  await ctx.page.goto(ctx.cs.url(), { timeout: 30_000 });
  await ctx.page.waitForSelector(sel.activityBar, { timeout: 30_000 });
}

export default [
  {
    name: 'in an untrusted workspace (Restricted Mode) the Fleet view is read-only and mutating commands are refused with the reason, running nothing on the hosts',
    timeoutMs: 120_000,
    async run(ctx) {
      const { page, fleet, cs } = ctx;
      if (!cs.workspaceTrust) throw new Error('code-server was started with --disable-workspace-trust, so no workspace can be untrusted');
      const trusted = cs.settings;
      cs.writeSettings({ ...trusted, 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never', 'security.workspace.trust.banner': 'always' });
      try {
        await reload(ctx);
        const restricted = page.locator(`${sel.statusBar} .statusbar-item`, { hasText: /Restricted Mode/ }).first();
        try {
          await restricted.waitFor({ timeout: 20_000 });
        } catch {
          throw new Error('the window did not open in Restricted Mode (no "Restricted Mode" status bar item) after turning workspace trust on');
        }
        await openFleetView(page);
        await waitRow(page, /^Read-only: the workspace is not trusted$/, { level: 1 });
        // Still a monitor: hosts online, with their generations.
        for (const h of fleet.bed.hosts) {
          await waitTree(page, `${h.name} online`, (rows) => rows.find((r) => r.level === 1 && r.label === h.name && /\bonline\b/.test(r.description)));
        }
        await showGenerations(page, 'h1');
        await ctx.shot('29-untrusted-fleet');

        // No mutating item in any context menu: host, generation; none in the view's title bar.
        const hostLabels = await menuLabels(page, rowLocator(page, 'h1', 1));
        const rows = await treeRows(page);
        const h1 = rows.find((r) => r.level === 1 && r.label === 'h1');
        const gens = childrenOf(rows, h1).find((r) => r.label === 'Generations');
        const gen = childrenOf(rows, gens).find((r) => /^Generation \d+/.test(r.label) && !/current/.test(r.label)) ?? childrenOf(rows, gens)[0];
        const genLabels = await menuLabels(page, page.locator(`${sel.treeRow}[data-index="${gen.index}"]`), { mayBeEmpty: true });
        const bad = [...hostLabels, ...genLabels].filter((l) => MUTATING.includes(l));
        if (bad.length) throw new Error(`untrusted, the tree still offers ${bad.join(', ')} (host menu: ${hostLabels.join(' | ')}; generation menu: ${genLabels.join(' | ') || '(empty)'})`);
        if (!hostLabels.includes('Show Logs')) throw new Error(`the host menu should still offer Show Logs (read-only); it shows: ${hostLabels.join(' | ')}`);
        const titleActions = await page.locator(`${sel.sidebar} .title-actions .action-label`).evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') || e.textContent || ''));
        if (titleActions.some((a) => /Deploy|Revert PR/.test(a))) throw new Error(`the view's title bar still offers ${titleActions.join(', ')}`);

        // A mutating command from the palette: refused with the reason, no host QuickPick.
        const before = hostFootprint(fleet);
        await runPaletteCommand(page, 'NixFleet: Force Rebuild');
        const text = await waitNotification(page, /Force Rebuild/, 20_000);
        await page.waitForTimeout(400);
        await ctx.shot('30-untrusted-refused');
        if (!/disabled in an untrusted workspace/.test(text) || !/Trust the workspace/.test(text)) {
          throw new Error(`the refusal must say why (untrusted workspace) and how to enable it; it says: "${text}"`);
        }
        if ((text.match(/Force Rebuild/g) ?? []).length !== 1) throw new Error(`the refusal must name the command once: "${text}"`);
        const toast = page.locator(sel.notification).filter({ hasText: /untrusted workspace/ }).first();
        const buttons = (await toast.locator('.monaco-button').allInnerTexts()).map((s) => s.trim());
        if (!buttons.includes('Manage Workspace Trust')) throw new Error(`the refusal offers no "Manage Workspace Trust"; buttons: ${buttons.join(', ') || '(none)'}`);
        if (await page.locator(sel.quickInputRow).filter({ hasText: 'h2' }).first().isVisible().catch(() => false)) {
          throw new Error('a host QuickPick opened for the refused command');
        }
        // Give a wrongly started op time to show up on disk before comparing.
        await page.waitForTimeout(1500);
        const after = hostFootprint(fleet);
        if (JSON.stringify(after) !== JSON.stringify(before)) {
          throw new Error(`a refused command changed a host: before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
        }
        // The button opens VS Code's workspace trust editor.
        await toast.locator('.monaco-button', { hasText: 'Manage Workspace Trust' }).first().click();
        await page.locator('.part.editor .tab', { hasText: /Workspace Trust/ }).first().waitFor({ timeout: 15_000 }).catch(async () => {
          const tabs = await page.locator('.part.editor .tab').allInnerTexts();
          throw new Error(`"Manage Workspace Trust" did not open the Workspace Trust editor; tabs: ${tabs.join(' | ') || '(none)'}`);
        });
        const trustButton = page.locator('.part.editor .monaco-button', { hasText: /^Trust$/ }).first();
        await trustButton.waitFor({ timeout: 15_000 });
        await ctx.shot('31-untrusted-manage-trust');
        // Trusting the folder from there ends Restricted Mode without a reload: the Fleet view
        // drops its read-only row and offers the host commands again.
        await trustButton.click();
        await restricted.waitFor({ state: 'hidden', timeout: 15_000 });
        await waitTree(page, 'the read-only row gone after trusting the workspace', (rows) => !rows.some((r) => /^Read-only/.test(r.label)), 20_000);
        const trustedLabels = await menuLabels(page, rowLocator(page, 'h1', 1));
        if (!trustedLabels.includes('Force Rebuild')) throw new Error(`after trusting the workspace the host menu should offer Force Rebuild again; it shows: ${trustedLabels.join(' | ')}`);
        await ctx.shot('32-trusted-again');
      } finally {
        // Back to the trusted window the other tests expect (when run alone or reordered).
        cs.writeSettings(trusted);
        await reload(ctx).catch(() => {});
      }
    },
  },
];
