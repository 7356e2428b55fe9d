// NixFleet: Deploy from the palette against real agents: a new commit in the workspace (pushed
// to the bed's bare origin) goes to the canaries h1 then h2 (nixfleet.deploy.canaryHosts, set
// in run.mjs), then to alice@h3. h2's activation is made to fail for the new system only, so the deploy stops there:
// the summary webview shows h1 succeeded, h2 failed with its failing line, alice@h3 not
// attempted, live; the failure notification offers the ways out; "Rollback Deployed Hosts"
// confirms with the affected hosts and puts them back on their pre-deploy generations on disk.
import { rmSync, writeFileSync } from 'node:fs';
import { dialog, notifications, notificationWithActions, openFleetView, outputChannel, outputLines, pickQuick, runPaletteCommand, waitNotification, waitTree, webviewFrame } from '../lib/workbench.mjs';
import { childrenOf, showHost } from './02-fleet.mjs';
import { sel } from '../lib/browser.mjs';
import { waitFor } from '../lib/procs.mjs';
import { row, waitSummary } from '../lib/deploySummary.mjs';

const NEW_VERSION = '24.05.4';


export default [
  {
    name: 'Deploy from the palette: live summary per host, failure notification with the undo actions, Rollback Deployed Hosts puts the switched hosts back on disk',
    timeoutMs: 150_000,
    async run(ctx) {
      const { page, fleet } = ctx;
      const hosts = ['h1', 'h2', 'alice@h3'];
      const before = Object.fromEntries(hosts.map((h) => [h, { gen: fleet.currentGeneration(h), store: fleet.currentStorePath(h) }]));
      const commit = fleet.commit(
        Object.fromEntries(hosts.map((h) => [`hosts/${h}/version`, `${NEW_VERSION}\n`])),
        `all hosts: version ${NEW_VERSION}`,
      );
      // h2's activation fails for the new system only (the old one, which the agent restores
      // and the rollback activates, still activates), after a pause in which the summary must
      // already show h1's outcome while h2 is still running.
      const h2 = fleet.host('h2');
      const failLine = `e2e-deploy: h2 refused ${NEW_VERSION}: health probe on :443 failed`;
      writeFileSync(
        h2.hookFile,
        `case "$NIXFLEET_TESTBED_STORE_PATH" in *-${NEW_VERSION}) ;; *) exit 0 ;; esac\n` +
          `echo "e2e-deploy: h2 checking ${NEW_VERSION}"\nsleep 3\necho "${failLine}" >&2\nexit 1\n`,
      );
      try {
        await openFleetView(page);
        await runPaletteCommand(page, 'NixFleet: Deploy');
        // What: the workspace's commit, named by its hash.
        await pickQuick(page, new RegExp(`Workspace commit ${commit.slice(0, 12)}`));
        // Which hosts: every configured host is preselected; the unreachable one is unticked.
        const hostRows = page.locator(sel.quickInputRow);
        await hostRows.filter({ hasText: 'offline1' }).first().waitFor({ timeout: 15_000 });
        const offered = (await hostRows.locator('.label-name').allInnerTexts()).map((s) => s.trim());
        for (const h of [...hosts, 'offline1']) if (!offered.includes(h)) throw new Error(`the host QuickPick does not offer ${h}; it offers: ${offered.join(', ')}`);
        const off = hostRows.filter({ has: page.locator('.label-name', { hasText: /^offline1$/ }) }).first();
        if ((await off.getAttribute('aria-checked')) !== 'true') throw new Error('offline1 is not preselected: every configured host should be');
        await off.locator('label.quick-input-list-label').first().click();
        await waitFor('offline1 unticked', async () => (await off.getAttribute('aria-checked')) === 'false', { timeoutMs: 5_000 });
        await ctx.shot('14-deploy-hosts');
        await page.locator(`${sel.quickInput} .quick-input-action .monaco-button, ${sel.quickInput} .monaco-button`, { hasText: /^OK$/ }).first().click();

        // The closure diff preview: every host builds the commit first, then a modal asks.
        const d = await dialog(page, 60_000);
        if (!d.text.includes(commit.slice(0, 12)) || !/3 host\(s\)/.test(d.text) || !/3 of them change/.test(d.text)) {
          throw new Error(`the preview must ask to deploy ${commit.slice(0, 12)} to 3 hosts, all of which change; it says: "${d.text}"`);
        }
        await ctx.shot('15-deploy-closure-diff');
        // The preview beside: a read-only document (no "Untitled", nothing to save) with every
        // host's `nix store diff-closures` line for its system.
        const diffTab = page.locator('.part.editor .tab', { hasText: `Closure diff of ${commit.slice(0, 12)}` }).first();
        await diffTab.waitFor({ timeout: 10_000 });
        if (/\bdirty\b/.test((await diffTab.getAttribute('class')) ?? '')) throw new Error('the closure diff preview is an unsaved (dirty) document: closing it would ask to save it');
        const diffText = (await page.locator('.part.editor .view-lines').allInnerTexts()).join('\n').replace(/\u00a0/g, ' ');
        for (const [h, sys] of [['h1', 'nixos-system-h1'], ['h2', 'darwin-system-h2'], ['alice@h3', 'home-manager-generation-alice-at-h3']]) {
          const v = fleet.currentStorePath(h).split('-').at(-1);
          if (!diffText.includes(`# ${h} (generation ${before[h].gen})`) || !diffText.includes(`${sys}: ${v} → ${NEW_VERSION}`)) {
            throw new Error(`the closure diff preview must show ${h} (generation ${before[h].gen}) with "${sys}: ${v} → ${NEW_VERSION}"; it shows:\n${diffText}`);
          }
        }
        if (!d.buttons.includes('Deploy')) throw new Error(`the preview has no Deploy button; buttons: ${d.buttons.join(', ')}`);
        await d.click('Deploy');

        const frame = await webviewFrame(page, '#rows');
        // Live: h1 (the canary) has succeeded while h2 is still switching.
        const live = await waitSummary(frame, 'h1 succeeded while h2 is still running', (s) => {
          const a = row(s, 'h1');
          const b = row(s, 'h2');
          return a && b && /^succeeded/.test(a.outcome) && /^running/.test(b.outcome);
        }, 60_000);
        await ctx.shot('16-deploy-live');
        for (const h of ['h1', 'h2']) if (row(live, h).host !== `${h} (canary)`) throw new Error(`${h} is a canary (nixfleet.deploy.canaryHosts) and should be marked so: ${row(live, h).host}`);
        if (!/^(waiting|pending)/.test(row(live, 'alice@h3').outcome)) throw new Error(`alice@h3 must wait while the canaries run: ${row(live, 'alice@h3').outcome}`);

        const done = await waitSummary(frame, 'the deploy to end failed on h2', (s) => /failed on h2/.test(s.headline), 60_000);
        const r1 = row(done, 'h1');
        const r2 = row(done, 'h2');
        const r3 = row(done, 'alice@h3');
        const gen1 = fleet.currentGeneration('h1');
        if (!/^succeeded$/.test(r1.outcome) || r1.generations !== `${before.h1.gen} → ${gen1}`) {
          throw new Error(`h1 must show succeeded, generation ${before.h1.gen} → ${gen1}: ${JSON.stringify(r1)}`);
        }
        if (!fleet.currentStorePath('h1').endsWith(`-${NEW_VERSION}`)) throw new Error(`h1's profile does not point at the deployed system: ${fleet.currentStorePath('h1')}`);
        if (!/^failed/.test(r2.outcome)) throw new Error(`h2 must show failed: ${JSON.stringify(r2)}`);
        // The agent undid h2's failed activation: the row says so, and the profile agrees.
        if (fleet.currentGeneration('h2') !== before.h2.gen) throw new Error(`h2's failed activation was not undone on disk: generation ${fleet.currentGeneration('h2')}`);
        if (!new RegExp(`^${before.h2.gen} → \\d+ ✗ → ${before.h2.gen}$`).test(r2.generations)) throw new Error(`h2's generations must read "${before.h2.gen} → N ✗ → ${before.h2.gen}": ${JSON.stringify(r2)}`);
        // Checked again at the end, so that the undo flow is still exercised when only the
        // failing line is wrong.
        const problems = [];
        if (!r2.line.startsWith(failLine)) problems.push(`h2's failing line must be the line that failed, "${failLine}"; the summary shows "${r2.line}"`);
        if (r3.outcome !== 'not attempted') throw new Error(`alice@h3 must show not attempted: ${JSON.stringify(r3)}`);
        if (fleet.currentGeneration('alice@h3') !== before['alice@h3'].gen) throw new Error('alice@h3 was not to be touched, but its profile moved');
        // A commit deploy (no PR): the revert is of the commit.
        for (const a of ['Revert Commit', 'Rollback Deployed Hosts']) if (!done.actions.includes(a)) throw new Error(`the summary offers no "${a}": ${done.actions.join(', ')}`);

        // The failure notification with every way out.
        const n = await notificationWithActions(page, /failed on h2/, 20_000);
        // The toast slides in: let it settle so the screenshot shows its buttons.
        await page.waitForTimeout(500);
        await ctx.shot('17-deploy-failed');
        // The Fleet view tells the truth (issue 11): h2's row says its switch failed, with the
        // error icon, while the notification is still up (only read, nothing clicked).
        await waitTree(page, "h2's row saying its switch failed", (rows) => rows.find((r) => r.level === 1 && r.label === 'h2' && /^online · switch failed\b/.test(r.description)), 30_000);
        const h2Icon = await page.locator(`${sel.treeRow}[aria-level="1"]`, { has: page.locator('.label-name', { hasText: /^h2$/ }) }).first().locator('.codicon-error').count();
        if (h2Icon !== 1) throw new Error("h2's row does not show the error icon after its failed switch");
        await ctx.shot('17b-fleet-h2-switch-failed');
        const want = ['Revert Commit', 'Rollback Deployed Hosts', 'Revert + Rollback', 'View Logs', 'Dismiss'];
        const missing = want.filter((w) => !n.buttons.includes(w));
        if (missing.length) throw new Error(`the failure notification lacks ${missing.join(', ')}; it offers: ${n.buttons.join(', ')} ("${n.text}")`);
        if (!/Switched: h1, h2\b/.test(n.text)) throw new Error(`the failure notification must name the hosts that switched (h1, h2): "${n.text}"`);

        await n.click('Rollback Deployed Hosts');
        const c = await dialog(page, 20_000);
        await ctx.shot('18-deploy-rollback-confirmation');
        if (!/Roll back 2 hosts/.test(c.text) || !new RegExp(`h1: back to generation ${before.h1.gen}\\b`).test(c.text) || !new RegExp(`h2: back to generation ${before.h2.gen}\\b`).test(c.text) || c.text.includes('alice@h3')) {
          throw new Error(`the confirmation must list h1 (back to ${before.h1.gen}) and h2 (back to ${before.h2.gen}), and not alice@h3; it says: "${c.text}"`);
        }
        await c.click('Roll Back');
        for (const h of ['h1', 'h2']) {
          await waitFor(`${h}'s profile back on generation ${before[h].gen}`, () => fleet.currentGeneration(h) === before[h].gen, { timeoutMs: 60_000 });
          if (fleet.currentStorePath(h) !== before[h].store) throw new Error(`${h} is on generation ${before[h].gen} but not on its pre-deploy system ${before[h].store}: ${fleet.currentStorePath(h)}`);
        }
        await waitNotification(page, /Rolled back 2 host\(s\) to their pre-deploy generations/, 30_000);
        const after = await waitSummary(frame, 'h1 and h2 rolled back in the summary', (s) => row(s, 'h1')?.outcome === 'rolled back' && row(s, 'h2')?.outcome === 'rolled back', 20_000);
        if (row(after, 'h1').generations !== `${before.h1.gen} → ${gen1} → ${before.h1.gen}`) throw new Error(`h1's generations after the rollback: ${row(after, 'h1').generations}`);
        if (row(after, 'alice@h3').outcome !== 'not attempted') throw new Error(`alice@h3 must stay not attempted: ${JSON.stringify(row(after, 'alice@h3'))}`);
        await ctx.shot('19-deploy-rolled-back');
        // The failed deploy stays on the hosts' rows until they are healthy again: h1 says it was
        // rolled back; h2, put back by its agent and not touched since, still says its switch
        // failed, and the drift row under it runs the fix (Switch) when clicked.
        await showHost(page, 'h2');
        const drift = await waitTree(page, "h1 rolled back and h2's drift row after the rollback", (rows) => {
          const h1 = rows.find((x) => x.level === 1 && x.label === 'h1' && new RegExp(`rolled back to gen ${before.h1.gen}\\b`).test(x.description));
          const h2 = rows.find((x) => x.level === 1 && x.label === 'h2' && /^online · switch failed\b/.test(x.description));
          return h1 && h2 && childrenOf(rows, h2).find((x) => x.label === 'Switch failed' && x.description === '→ Switch');
        }, 30_000, { keepExpanded: ['h2'] });
        if (!drift) throw new Error('h2 shows no drift row after the failed deploy');
        await ctx.shot('19b-fleet-h2-still-failed-h1-rolled-back');
        // Each host's log is one click away: h2's "View Logs" opens its output channel at its
        // failed switch.
        await frame.locator('#rows tr', { hasText: 'h2' }).locator('button', { hasText: 'View Logs' }).click();
        await waitFor("h2's output channel with its failed switch", async () => {
          const ch = await outputChannel(page);
          // The log view wraps long lines (at spaces): join the visual lines back.
          const text = (await outputLines(page)).join(' ').replace(/\s+/g, ' ');
          return /NixFleet: h2/.test(ch) && /\[switch\] ■ switch failed in [\d.]+ s: host h2: activation of generation \d+ failed/.test(text) && text.includes(failLine);
        }, { timeoutMs: 15_000 }).catch(async (err) => {
          throw new Error(`${err.message}; the panel shows channel "${await outputChannel(page)}":\n${(await outputLines(page)).join('\n')}`);
        });
        await ctx.shot('20-deploy-view-logs');
        if (problems.length) throw new Error(problems.join('; '));
      } finally {
        rmSync(h2.hookFile, { force: true });
      }
    },
  },
  {
    name: 'Deploy, then Revert PR from the palette with nothing named: it asks what to revert (the last deploy offered first, a PR or a commit instead) and guesses nothing; Escape reverts nothing',
    async run(ctx) {
      const { page, fleet } = ctx;
      const originBefore = fleet.git(fleet.bed.origin, 'rev-parse', 'main');
      const last = fleet.git(fleet.bed.workstation, 'log', '-1', '--format=%H', `--grep=^all hosts: version ${NEW_VERSION}$`);
      await openFleetView(page);
      await runPaletteCommand(page, 'NixFleet: Revert PR');
      const rows = page.locator(sel.quickInputRow);
      await rows.first().waitFor({ timeout: 15_000 });
      const items = (await rows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
      await ctx.shot('23-revert-pr-asks-what');
      const want = [new RegExp(`^Commit ${last.slice(0, 12)}, deployed last`), /^A merged pull request…/, /^A commit…/];
      if (items.length !== want.length || want.some((re, i) => !re.test(items[i]))) {
        throw new Error(`Revert PR must ask what to revert, the last deploy (commit ${last.slice(0, 12)}) first: ${items.join(' | ')}`);
      }
      await page.keyboard.press('Escape');
      await page.locator(sel.quickInputBox).waitFor({ state: 'hidden', timeout: 5_000 });
      if (await page.locator(sel.dialog).isVisible()) throw new Error('Escape on "what to revert" must end Revert PR, not ask to confirm a revert');
      if (fleet.git(fleet.bed.origin, 'rev-parse', 'main') !== originBefore) throw new Error("Revert PR cancelled, yet origin's main moved");
    },
  },
  {
    name: "Deploy that succeeds, then the summary webview's Revert + Rollback: the commit is reverted with git and pushed (origin's tree is the one before it) and every host is back on its pre-deploy generation",
    timeoutMs: 150_000,
    async run(ctx) {
      const { page, fleet } = ctx;
      const hosts = ['h1', 'h2', 'alice@h3'];
      const version = '24.05.5';
      const before = Object.fromEntries(hosts.map((h) => [h, { gen: fleet.currentGeneration(h), store: fleet.currentStorePath(h) }]));
      const commit = fleet.commit(Object.fromEntries(hosts.map((h) => [`hosts/${h}/version`, `${version}\n`])), `all hosts: version ${version}`);
      const ws = fleet.bed.workstation;
      await openFleetView(page);
      await runPaletteCommand(page, 'NixFleet: Deploy');
      await pickQuick(page, new RegExp(`Workspace commit ${commit.slice(0, 12)}`));
      const off = page.locator(sel.quickInputRow).filter({ has: page.locator('.label-name', { hasText: /^offline1$/ }) }).first();
      await off.waitFor({ timeout: 15_000 });
      await off.locator('label.quick-input-list-label').first().click();
      await waitFor('offline1 unticked', async () => (await off.getAttribute('aria-checked')) === 'false', { timeoutMs: 5_000 });
      await page.locator(`${sel.quickInput} .monaco-button`, { hasText: /^OK$/ }).first().click();
      const d = await dialog(page, 60_000);
      await d.click('Deploy');
      await waitNotification(page, new RegExp(`deployed ${commit.slice(0, 12)} to 3 host\\(s\\)`), 60_000);
      for (const h of hosts) if (!fleet.currentStorePath(h).endsWith(`-${version}`)) throw new Error(`${h} does not run the deployed system: ${fleet.currentStorePath(h)}`);
      const frame = await webviewFrame(page, '#rows');
      const ok = await waitSummary(frame, 'every host succeeded, with the three undo buttons', (s) => hosts.every((h) => row(s, h)?.outcome === 'succeeded') && s.actions.includes('Revert + Rollback'), 20_000);
      if (!/^Deployed commit/.test(ok.headline)) throw new Error(`headline: ${ok.headline}`);

      await frame.locator('#actions button', { hasText: 'Revert + Rollback' }).click();
      const r = await dialog(page, 20_000);
      await ctx.shot('21-deploy-revert-confirmation');
      if (!r.text.includes(`Revert commit ${commit.slice(0, 12)} with git`) || !r.text.includes(ws) || !r.buttons.includes('Revert and Push')) {
        throw new Error(`the revert confirmation must name the commit, the clone and what it does (git revert, push): "${r.text}" [${r.buttons.join(', ')}]`);
      }
      if (!r.text.includes(`git revert --no-edit ${commit.slice(0, 12)}`)) throw new Error(`the confirmation must say the exact git command (no -m 1: ${commit.slice(0, 12)} is not a merge): "${r.text}"`);
      await r.click('Revert and Push');
      // Next comes the rollback's confirmation, unless the revert failed (then say why).
      await waitFor('the rollback confirmation after the revert', async () => {
        if (await page.locator(sel.dialog).isVisible()) return true;
        const failed = (await notifications(page)).find((t) => /^NixFleet: .*\b(failed|error)\b/i.test(t));
        if (failed) throw Object.assign(new Error(`the revert failed instead of going on to the rollback: "${failed}"`), { fatal: true });
        return false;
      }, { timeoutMs: 30_000, everyMs: 200 });
      const rb = await dialog(page);
      if (!/Roll back 3 hosts/.test(rb.text) || hosts.some((h) => !new RegExp(`${h}: back to generation ${before[h].gen}\\b`).test(rb.text))) {
        throw new Error(`the rollback confirmation must list the 3 hosts and their pre-deploy generations: "${rb.text}"`);
      }
      await rb.click('Roll Back');
      for (const h of hosts) {
        await waitFor(`${h}'s profile back on generation ${before[h].gen}`, () => fleet.currentGeneration(h) === before[h].gen, { timeoutMs: 60_000 });
        if (fleet.currentStorePath(h) !== before[h].store) throw new Error(`${h} is not back on its pre-deploy system ${before[h].store}: ${fleet.currentStorePath(h)}`);
      }
      // The revert: a new commit on origin's main whose tree is the tree before the deploy's commit.
      const originMain = fleet.git(fleet.bed.origin, 'rev-parse', 'main');
      if (originMain === commit) throw new Error("origin's main was not moved: the revert was not pushed");
      if (fleet.git(fleet.bed.origin, 'rev-parse', `${originMain}^{tree}`) !== fleet.git(ws, 'rev-parse', `${commit}^^{tree}`)) {
        throw new Error(`origin's main (${originMain.slice(0, 12)}) does not have the tree from before ${commit.slice(0, 12)}`);
      }
      if (fleet.git(fleet.bed.origin, 'rev-parse', `${originMain}^`) !== commit) throw new Error(`the revert commit's parent is not ${commit.slice(0, 12)}`);
      const done = await waitSummary(frame, 'every host rolled back and the revert named', (s) => hosts.every((h) => row(s, h)?.outcome === 'rolled back') && /reverted with git/.test(s.meta), 20_000);
      if (!done.meta.includes(originMain.slice(0, 12))) throw new Error(`the summary must name the revert commit ${originMain.slice(0, 12)}: ${done.meta}`);
      if (done.actions.length) throw new Error(`after the revert and the rollback nothing is left to undo, but the summary offers: ${done.actions.join(', ')}`);
      await ctx.shot('22-deploy-reverted-rolled-back');
      // After the revert the hosts' checkouts are not the workspace's commit: the Git row names
      // both until they pull (the rollback moved profiles, not checkouts), and the host row says
      // it; the Lock row compares only the pinned inputs, which the revert did not change.
      await showHost(page, 'h1');
      const git = await waitTree(page, "h1's Git row naming the workspace's commit after the revert, and its row saying it was rolled back", (rows) => {
        const h = rows.find((x) => x.level === 1 && x.label === 'h1');
        const g = h && childrenOf(rows, h).find((x) => x.label === 'Git');
        // The row reads the op records on the refresh after the rollback's end: wait for both.
        return g && g.description.startsWith(`${commit.slice(0, 7)} (main), not the workspace's ${originMain.slice(0, 7)} · `) && /rolled back to gen/.test(h.description) ? { h, g } : null;
      }, 30_000, { keepExpanded: ['h1'] });
      await ctx.shot('22b-git-not-workspace-after-revert');
    },
  },
  {
    name: 'Deploy, reverted, then Revert PR from the palette: the reverted deploy is offered no more, and the question says it was reverted',
    async run(ctx) {
      const { page, fleet } = ctx;
      const last = fleet.git(fleet.bed.workstation, 'log', '-1', '--format=%H', '--grep=^all hosts: version 24.05.5$');
      const revert = fleet.git(fleet.bed.origin, 'rev-parse', 'main');
      await openFleetView(page);
      await runPaletteCommand(page, 'NixFleet: Revert PR');
      const rows = page.locator(sel.quickInputRow);
      await rows.first().waitFor({ timeout: 15_000 });
      const items = (await rows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
      const placeholder = (await page.locator(sel.quickInputBox).getAttribute('placeholder')) ?? '';
      await page.keyboard.press('Escape');
      await page.locator(sel.quickInputBox).waitFor({ state: 'hidden', timeout: 5_000 });
      if (items.some((t) => /deployed last/.test(t)) || !/^A merged pull request…/.test(items[0] ?? '')) throw new Error(`the deploy of ${last.slice(0, 12)} was reverted: Revert PR must not offer it again: ${items.join(' | ')}`);
      if (!placeholder.includes(`commit ${last.slice(0, 12)}, is already reverted as ${revert.slice(0, 12)}`)) throw new Error(`the question must say the last deploy is already reverted (as ${revert.slice(0, 12)}): "${placeholder}"`);
    },
  },
];
