// The status bar summary of the fleet (click → Fleet view), and the token rule: agent tokens
// live in SecretStorage only, never in a settings file or a log, on the server side included.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { sel } from '../lib/browser.mjs';

function* filesUnder(dir) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) yield* filesUnder(p);
    else if (st.isFile() && st.size < 20 * 1024 * 1024) yield p;
  }
}

export default [
  {
    name: 'the status bar summarises the fleet and focuses the Fleet view when clicked',
    async run(ctx) {
      const { page, fleet } = ctx;
      const online = fleet.bed.hosts.length;
      const total = online + 1; // + the unreachable host
      const item = page.locator(`${sel.statusBar} .statusbar-item`, { hasText: /\d+\/\d+ online/ }).first();
      try {
        await item.waitFor({ timeout: 20_000 });
      } catch {
        const shown = await page.locator(`${sel.statusBar} .statusbar-item`).allInnerTexts();
        throw new Error(`no fleet summary ("N/M online") in the status bar; it shows: ${shown.map((s) => s.trim()).filter(Boolean).join(' | ')}`);
      }
      const text = (await item.innerText()).replace(/\s+/g, ' ').trim();
      if (!text.includes(`${online}/${total} online`)) throw new Error(`the status bar says "${text}", expected ${online}/${total} online`);
      // Show another view first, so the click has something to do.
      await page.locator(`${sel.activityBar} [aria-label^="Explorer"]`).first().click();
      await page.locator(`${sel.sidebar} .composite.title`, { hasText: /Explorer/i }).first().waitFor({ timeout: 10_000 });
      await item.click();
      await page.locator(`${sel.sidebar} .composite.title`, { hasText: /NixFleet/i }).first().waitFor({ timeout: 10_000 });
      await ctx.shot('11-status-bar');
    },
  },
  {
    name: 'agent tokens are in no settings, state or log file of VS Code or the agents',
    async run(ctx) {
      const { fleet, cs } = ctx;
      const token = fleet.bed.token;
      const scanned = [];
      const leaks = [];
      const roots = [cs.dir, ...fleet.agents.map((a) => a.logFile)];
      for (const r of roots) {
        const files = statSync(r).isDirectory() ? [...filesUnder(r)] : [r];
        for (const f of files) {
          scanned.push(f);
          if (readFileSync(f).includes(token)) leaks.push(f);
        }
      }
      if (!scanned.some((f) => f.endsWith(path.join('User', 'settings.json')))) throw new Error(`the user settings.json was not among the ${scanned.length} files scanned`);
      if (leaks.length) throw new Error(`the agent token is written in: ${leaks.join(', ')}`);
    },
  },
];
