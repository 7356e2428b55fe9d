// Deploy a merged pull request and Revert PR through GitHub, in the real VS Code, against the
// GitHub TEST server (test/fixtures/githubTestServer.ts, started by run.mjs over the bed's bare
// origin; the extension reaches it through `nixfleet.github.apiUrl`, as it would a GitHub
// Enterprise server).
//
// The workspace clone must read as a GitHub repository: the extension asks `git remote get-url
// origin` (src/gitops/repo.ts) and parses it (parseGitHubRemote). git expands `insteadOf` in
// what get-url prints, so a fetch redirection would show the local path; instead origin's URL
// is https://github.com/acme/nixcfg.git (what a GitHub clone has) with a push URL to the bare
// repository. Nothing here fetches through the workspace: the GitHub route works through the
// REST API only, and the hosts pull from their own checkouts.
//
// A PR branch is merged into main with `git merge --no-ff` (GitHub's merge button's commit) and
// recorded on the test server; the PR is deployed with h2 failing; a wrong token's 401 is shown
// and creates nothing; then Revert PR (pull-request mode) opens revert-<n> with the pre-merge
// tree and a revert PR, and the summary names it.
import { rmSync, writeFileSync } from 'node:fs';
import { sel } from '../lib/browser.mjs';
import { dialog, notifications, notificationWithActions, openFleetView, pickQuick, runPaletteCommand, webviewFrame } from '../lib/workbench.mjs';
import { waitFor } from '../lib/procs.mjs';
import { row, waitSummary } from '../lib/deploySummary.mjs';

const VERSION = '24.05.6';
const PR = 12;


/** The open quick input's title (QuickPick or InputBox), '' when none. */
async function quickTitle(page) {
  const w = page.locator(sel.quickInput);
  if (!(await w.isVisible().catch(() => false))) return '';
  return (await w.locator('.quick-input-title').innerText().catch(() => '')).trim();
}

/** "NixFleet: Set GitHub Token" from the palette: a password input box, the token typed in. */
async function setTokenInUi(page, token) {
  await runPaletteCommand(page, 'NixFleet: Set GitHub Token');
  await waitFor('the GitHub token input box', async () => /GitHub token/.test(await quickTitle(page)), { timeoutMs: 10_000 });
  const input = page.locator(sel.quickInputBox);
  if ((await input.getAttribute('type')) !== 'password') throw new Error('the GitHub token input box must hide what is typed (type=password)');
  await input.fill(token);
  await page.keyboard.press('Enter');
  await waitFor('the token input box to close', async () => (await quickTitle(page)) === '', { timeoutMs: 10_000 });
}

/**
 * Click `label` on the notification matching `re`: on its toast when shown, else in the
 * notification center (opening the palette hides toasts; the notification stays there).
 */
async function clickNotificationAction(page, re, label) {
  const buttons = '.notification-list-item-buttons-container .monaco-button';
  const toast = page.locator(sel.notification).filter({ hasText: re }).first();
  if (await toast.isVisible().catch(() => false)) return toast.locator(buttons, { hasText: label }).first().click({ timeout: 5_000 });
  await runPaletteCommand(page, 'Notifications: Show Notifications');
  const item = page.locator(sel.notificationCenterItem).filter({ hasText: re }).first();
  await item.waitFor({ timeout: 10_000 });
  await item.locator(buttons, { hasText: label }).first().click({ timeout: 5_000 });
}

/**
 * The notification matching `re`, as a toast or in the open notification center: its text,
 * its buttons and a click on one of them.
 */
async function notificationAnywhere(page, re, timeoutMs) {
  const buttons = '.notification-list-item-buttons-container .monaco-button';
  const where = `${sel.notification}, ${sel.notificationCenterItem}`;
  const item = page.locator(where).filter({ hasText: re }).first();
  try {
    await item.waitFor({ timeout: timeoutMs });
  } catch {
    const shown = (await page.locator(where).allInnerTexts()).map((t) => t.replace(/\s+/g, ' '));
    throw new Error(`no notification matching ${re} within ${timeoutMs / 1000} s; shown: ${shown.join(' | ') || '(none)'}`);
  }
  return {
    text: (await item.innerText()).replace(/\u00a0/g, ' ').replace(/\s+/g, ' ').trim(),
    buttons: (await item.locator(buttons).allInnerTexts()).map((t) => t.trim()),
    click: (label) => item.locator(buttons, { hasText: label }).first().click({ timeout: 5_000 }),
  };
}

/** Refs of the bare origin (name → sha). */
function refs(fleet) {
  const out = fleet.git(fleet.bed.origin, 'for-each-ref', '--format=%(refname) %(objectname)');
  return Object.fromEntries(out.split('\n').filter(Boolean).map((l) => l.split(' ')));
}

export default [
  {
    name: 'GitHub: deploy a merged PR (test server), h2 fails; a wrong token\'s 401 says what to do and creates nothing; Revert PR from the summary opens revert-<n> with the pre-merge tree and a revert PR',
    timeoutMs: 150_000,
    async run(ctx) {
      const { page, fleet, github } = ctx;
      const { server, token, user, owner, repo } = github;
      const hosts = ['h1', 'h2', 'alice@h3'];
      const ws = fleet.bed.workstation;
      const git = (...args) => fleet.git(ws, ...args);
      const branch = `bump-${VERSION}`;
      const title = `all hosts: version ${VERSION}`;

      // The PR: a branch with one commit, merged into main on origin with --no-ff, as GitHub's
      // merge button does ("Merge pull request #N from owner/branch").
      if (git('rev-parse', '--abbrev-ref', 'HEAD') !== 'main') throw new Error(`the workstation is not on main: ${git('rev-parse', '--abbrev-ref', 'HEAD')}`);
      git('pull', '-q', '--ff-only', 'origin', 'main');
      const beforeMerge = git('rev-parse', 'HEAD');
      git('checkout', '-q', '-b', branch);
      for (const h of hosts) writeFileSync(`${ws}/hosts/${h}/version`, `${VERSION}\n`);
      git('add', '-A');
      git('commit', '-q', '-m', title);
      git('push', '-q', 'origin', branch);
      git('checkout', '-q', 'main');
      git('merge', '-q', '--no-ff', '-m', `Merge pull request #${PR} from ${owner}/${branch}\n\n${title}`, branch);
      git('push', '-q', 'origin', 'main');
      const merge = git('rev-parse', 'HEAD');
      const pr = await server.call('recordMergedPullRequest', { number: PR, title, head: branch, base: 'main', user });
      if (pr.mergeCommitSha !== merge) throw new Error(`the test server recorded PR #${PR} with merge ${pr.mergeCommitSha}, not ${merge}`);

      const originUrl = git('remote', 'get-url', 'origin');
      git('remote', 'set-url', 'origin', `https://github.com/${owner}/${repo}.git`);
      git('remote', 'set-url', '--push', 'origin', originUrl);
      const h2 = fleet.host('h2');
      writeFileSync(h2.hookFile, `case "$NIXFLEET_TESTBED_STORE_PATH" in *-${VERSION}) ;; *) exit 0 ;; esac\necho "e2e-github: h2 refuses ${VERSION}" >&2\nexit 1\n`);
      try {
        await openFleetView(page);
        // Deploy what? A merged pull request, by number: the extension reads it from GitHub.
        const deployPr = async () => {
          await runPaletteCommand(page, 'NixFleet: Deploy');
          await pickQuick(page, /A merged pull request/);
          await waitFor('the PR number input box', async () => /Deploy a PR/.test(await quickTitle(page)), { timeoutMs: 10_000 });
          await page.locator(sel.quickInputBox).fill(String(PR));
          await page.keyboard.press('Enter');
        };
        // No token stored yet (no test before this one stores one), and the API is not github.com's (nixfleet.github.apiUrl): the
        // extension asks for a token (no VS Code GitHub sign-in, whose github.com token this
        // server would refuse). One GitHub does not know is given: the Deploy command's error
        // says so and offers "Set GitHub Token", which stores the right one.
        await deployPr();
        await waitFor('the GitHub token prompt (no sign-in dialog)', async () => {
          if (await page.locator(sel.dialog).isVisible()) {
            const d = await dialog(page);
            throw Object.assign(new Error(`a dialog opened instead of the token prompt: "${d.text}"`), { fatal: true });
          }
          return /GitHub token/.test(await quickTitle(page));
        }, { timeoutMs: 15_000, everyMs: 200 });
        if ((await page.locator(sel.quickInputBox).getAttribute('type')) !== 'password') throw new Error('the GitHub token prompt must hide what is typed (type=password)');
        await page.locator(sel.quickInputBox).fill(`ghp_unknown${'1'.repeat(24)}`);
        await page.keyboard.press('Enter');
        const denied = await notificationAnywhere(page, /NixFleet: Deploy: GitHub refused the token/, 20_000);
        if (!/401 Bad credentials/.test(denied.text) || !denied.buttons.includes('Set GitHub Token')) {
          throw new Error(`the Deploy command's 401 must name it and offer "Set GitHub Token": "${denied.text}" [${denied.buttons.join(', ')}]`);
        }
        await page.waitForTimeout(300);
        await ctx.shot('23-github-deploy-401');
        await denied.click('Set GitHub Token');
        await waitFor('the GitHub token input box', async () => /GitHub token/.test(await quickTitle(page)), { timeoutMs: 10_000 });
        if ((await page.locator(sel.quickInputBox).getAttribute('type')) !== 'password') throw new Error('the GitHub token input box must hide what is typed (type=password)');
        await page.locator(sel.quickInputBox).fill(token);
        await page.keyboard.press('Enter');
        await waitFor('the token input box to close', async () => (await quickTitle(page)) === '', { timeoutMs: 10_000 });

        await deployPr();
        // Next: the host QuickPick. A sign-in dialog or an error instead is a failure.
        const offRow = page.locator(sel.quickInputRow).filter({ has: page.locator('.label-name', { hasText: /^offline1$/ }) }).first();
        await waitFor('the host QuickPick after the PR number', async () => {
          if (await page.locator(sel.dialog).isVisible()) {
            const d = await dialog(page);
            await ctx.shot('FAILED-github-unexpected-dialog');
            throw Object.assign(new Error(`a dialog opened instead of the host QuickPick (the stored token should be used): "${d.text}" [${d.buttons.join(', ')}]`), { fatal: true });
          }
          const err = (await notifications(page)).find((t) => /^NixFleet: Deploy:/.test(t) && !/401/.test(t));
          if (err) throw Object.assign(new Error(`the PR deploy failed before the host pick: "${err}"`), { fatal: true });
          return offRow.isVisible();
        }, { timeoutMs: 20_000, everyMs: 200 });
        await offRow.locator('label.quick-input-list-label').first().click();
        await waitFor('offline1 unticked', async () => (await offRow.getAttribute('aria-checked')) === 'false', { timeoutMs: 5_000 });
        await page.locator(`${sel.quickInput} .monaco-button`, { hasText: /^OK$/ }).first().click();
        const d = await dialog(page, 60_000);
        if (!d.text.includes(`PR #${PR} (${merge.slice(0, 12)})`)) throw new Error(`the preview must name PR #${PR} and its merge commit ${merge.slice(0, 12)}: "${d.text}"`);
        await d.click('Deploy');

        const frame = await webviewFrame(page, '#rows');
        const done = await waitSummary(frame, 'the PR deploy to end failed on h2', (s) => /failed on h2/.test(s.headline) && s.meta.includes(`PR #${PR}`), 90_000);
        if (!/^succeeded$/.test(row(done, 'h1').outcome) || !/^failed/.test(row(done, 'h2').outcome) || row(done, 'alice@h3').outcome !== 'not attempted') {
          throw new Error(`h1 succeeded, h2 failed, alice@h3 not attempted expected: ${JSON.stringify(done.rows)}`);
        }
        // Who deployed: the GitHub login of the stored token (GET /user on the test server).
        if (!done.meta.includes(`by ${user.login}`)) throw new Error(`the summary must name the GitHub login ${user.login} as who deployed: ${done.meta}`);
        if (!done.actions.includes('Revert PR')) throw new Error(`a PR deploy must offer Revert PR: ${done.actions.join(', ')}`);
        const n = await notificationWithActions(page, /failed on h2/, 20_000);
        if (!n.buttons.includes('Revert PR')) throw new Error(`the failure notification of a PR deploy must offer Revert PR: ${n.buttons.join(', ')}`);
        await page.waitForTimeout(500);
        await ctx.shot('24-github-pr-deploy-failed');

        // A wrong token (revoked, say): Revert PR from the notification gets GitHub's 401,
        // shown as what happened and what to do, and nothing is created on origin.
        const refsBefore = refs(fleet);
        const postsBefore = (await server.call('requests')).filter((r) => r.method !== 'GET').length;
        await setTokenInUi(page, `ghp_revoked${'0'.repeat(24)}`);
        // The palette hid the toast; the notification waits in the notification center.
        await clickNotificationAction(page, /failed on h2/, 'Revert PR');
        const e401n = await notificationAnywhere(page, /401/, 20_000);
        const e401 = e401n.text;
        await page.waitForTimeout(300);
        await ctx.shot('25-github-revert-401');
        if (!/GitHub refused the token/.test(e401) || !/Bad credentials/.test(e401) || !/store a new token/.test(e401)) {
          throw new Error(`the 401 must say GitHub refused the token and what to do (store a new one): "${e401}"`);
        }
        if (await page.locator(sel.dialog).isVisible()) throw new Error('after the 401 no confirmation may open');
        const after401 = await server.call('requests');
        if (after401.filter((r) => r.method !== 'GET').length !== postsBefore) throw new Error(`a request that changes something reached the test server after the 401: ${JSON.stringify(after401.slice(-5))}`);
        if (!after401.some((r) => r.status === 401)) throw new Error('the test server answered no 401: the wrong token was not used');
        if (JSON.stringify(refs(fleet)) !== JSON.stringify(refsBefore)) throw new Error(`origin's refs changed after the 401: ${JSON.stringify(refs(fleet))}`);

        // The way out is on the error: "Set GitHub Token" asks for the right token.
        if (!e401n.buttons.includes('Set GitHub Token')) throw new Error(`the 401 notification must offer "Set GitHub Token": [${e401n.buttons.join(', ')}]`);
        await e401n.click('Set GitHub Token');
        await waitFor('the GitHub token input box', async () => /GitHub token/.test(await quickTitle(page)), { timeoutMs: 10_000 });
        await page.locator(sel.quickInputBox).fill(token);
        await page.keyboard.press('Enter');
        await waitFor('the token input box to close', async () => (await quickTitle(page)) === '', { timeoutMs: 10_000 });
        await frame.locator('#actions button', { hasText: /^Revert PR$/ }).click();
        await waitFor('the revert mode QuickPick', async () => new RegExp(`Revert PR #${PR}`).test(await quickTitle(page)), { timeoutMs: 15_000 });
        const modes = (await page.locator(sel.quickInputRow).allInnerTexts()).map((s) => s.replace(/\s+/g, ' ').trim());
        if (!/^Open a revert PR/.test(modes[0] ?? '')) throw new Error(`the first (default) revert mode must be "Open a revert PR": ${modes.join(' | ')}`);
        await ctx.shot('26-github-revert-mode');
        await pickQuick(page, 'Open a revert PR');
        const c = await dialog(page, 15_000);
        await ctx.shot('27-github-revert-confirmation');
        if (!c.text.includes(`Open a PR that reverts PR #${PR} of ${owner}/${repo}?`) || !c.text.includes(`revert-${PR}`) || !c.text.includes(beforeMerge.slice(0, 12))) {
          throw new Error(`the confirmation must name the PR, the repository, the branch revert-${PR} and the pre-merge commit ${beforeMerge.slice(0, 12)}: "${c.text}"`);
        }
        await c.click('Open Revert PR');
        const opened = (await notificationAnywhere(page, new RegExp(`opened revert PR #\\d+ for PR #${PR}`), 30_000)).text;
        const revertNumber = Number(/revert PR #(\d+)/.exec(opened)[1]);

        // On origin: revert-<n> with the tree from before the merge, on top of the merge; main untouched.
        const tip = fleet.git(fleet.bed.origin, 'rev-parse', `refs/heads/revert-${PR}`);
        if (fleet.git(fleet.bed.origin, 'rev-parse', `${tip}^{tree}`) !== fleet.git(fleet.bed.origin, 'rev-parse', `${beforeMerge}^{tree}`)) {
          throw new Error(`revert-${PR} (${tip.slice(0, 12)}) does not have the pre-merge tree of ${beforeMerge.slice(0, 12)}`);
        }
        if (fleet.git(fleet.bed.origin, 'rev-parse', `${tip}^`) !== merge) throw new Error(`revert-${PR}'s parent is not the merge ${merge.slice(0, 12)}`);
        if (fleet.git(fleet.bed.origin, 'rev-parse', 'refs/heads/main') !== merge) throw new Error('main moved: a revert PR must leave main alone');
        // On the test server: an open PR from revert-<n> into main.
        const pulls = await server.call('pulls');
        const rp = pulls.find((p) => p.number === revertNumber);
        if (!rp || rp.state !== 'open' || rp.head !== `revert-${PR}` || rp.base !== 'main' || rp.headSha !== tip || rp.title !== `Revert "${title}"`) {
          throw new Error(`the test server must hold an open PR #${revertNumber} revert-${PR} → main titled 'Revert "${title}"': ${JSON.stringify(rp)}`);
        }
        // The summary names it and offers no second revert.
        const s = await waitSummary(frame, 'the summary to name the revert PR', (x) => x.meta.includes(`revert PR #${revertNumber} opened (${tip.slice(0, 12)})`), 15_000);
        if (s.actions.includes('Revert PR')) throw new Error(`after the revert the summary still offers Revert PR: ${s.actions.join(', ')}`);
        if (!s.actions.includes('Rollback Deployed Hosts')) throw new Error(`the hosts that switched can still be rolled back: ${s.actions.join(', ')}`);
        // The revert is only proposed until the PR is merged: h1 still runs the change.
        const h1row = row(s, 'h1');
        if (h1row?.outcome !== `revert PR #${revertNumber} opened (still running the change)`) throw new Error(`h1's row must say the revert PR is only opened: ${JSON.stringify(h1row)}`);
        await ctx.shot('28-github-revert-pr-opened');
      } finally {
        rmSync(h2.hookFile, { force: true });
        git('remote', 'set-url', 'origin', originUrl);
        git('config', '--unset-all', 'remote.origin.pushurl');
      }
    },
  },
];
