// The workbench loads in Chromium with the packaged extension installed, and the extension
// activates in the real extension host.
import { sel } from '../lib/browser.mjs';
import { widenSidebar } from '../lib/workbench.mjs';

export default [
  {
    name: 'workbench loads with the packaged NixFleet extension installed and active',
    async run(ctx) {
      const { page, bridge, installed } = ctx;
      if (!installed.listed.toLowerCase().includes('nixfleet.nixfleet@')) {
        throw new Error(`code-server --list-extensions does not list nixfleet.nixfleet: ${installed.listed}`);
      }
      if (!bridge.extension) throw new Error(`the extension host did not load the extension: ${bridge.errors.join('; ')}`);
      if (!bridge.activated) throw new Error(`the extension did not activate: ${bridge.errors.join('; ')}`);
      await page.waitForSelector(sel.statusBar, { timeout: 20_000 });
      await ctx.shot('01-workbench');
    },
  },
  {
    name: 'the NixFleet activity bar item opens the Fleet view',
    async run(ctx) {
      const { page } = ctx;
      const item = page.locator(`${sel.activityBar} [aria-label^="NixFleet"]`).first();
      await item.waitFor({ timeout: 20_000 });
      await item.click();
      await page.locator(`${sel.sidebar} .composite.title`, { hasText: /NixFleet/i }).first().waitFor({ timeout: 20_000 });
      await widenSidebar(page);
      await ctx.shot('02-fleet-view');
    },
  },
];
