// NixFleet: Plan Deploy from the palette against real agents: a commit made in the workspace
// but not pushed is offered a Push first (the hosts fetch from origin); then the plan view
// shows h1 and h2 changing (h1's units known on NixOS, h2's "not known" on nix-darwin) and
// alice@h3 as "no change"; h2 is unticked and "Deploy 1 Selected Host" runs the rollout on
// this plan: h1's profile on disk moves to the new system, h2's and alice@h3's do not, and the
// deploy summary shows the wave passed.
import { openFleetView, pickQuick, runPaletteCommand, waitNotification, notificationWithActions, webviewFrame } from '../lib/workbench.mjs';
import { sel } from '../lib/browser.mjs';
import { waitFor } from '../lib/procs.mjs';
import { row, waitSummary } from '../lib/deploySummary.mjs';

const NEW_VERSION = '24.05.7';

/** The plan view's state as the page shows it. */
async function planState(frame) {
  return frame.evaluate(() => ({
    headline: document.getElementById('headline')?.textContent ?? '',
    deploy: document.getElementById('deploy')?.textContent ?? '',
    groups: [...document.querySelectorAll('#groups section.group')].map((s) => ({
      kind: s.dataset.kind,
      title: s.querySelector('h3')?.textContent ?? '',
      text: s.textContent ?? '',
      hosts: [...s.querySelectorAll('label[data-host]')].map((l) => ({ host: l.dataset.host, checked: l.querySelector('input').checked, disabled: l.querySelector('input').disabled, note: l.querySelector('.note')?.textContent ?? '' })),
    })),
  }));
}

/** Plan Deploy from the palette: the workspace's commit, every host but the unreachable one. */
async function startPlan(page, commit) {
  await openFleetView(page);
  await runPaletteCommand(page, 'NixFleet: Plan Deploy');
  await pickQuick(page, new RegExp(`Workspace commit ${commit.slice(0, 12)}`));
  const off = page.locator(sel.quickInputRow).filter({ has: page.locator('.label-name', { hasText: /^offline1$/ }) }).first();
  await off.waitFor({ timeout: 15_000 });
  await off.locator('label.quick-input-list-label').first().click();
  await waitFor('offline1 unticked', async () => (await off.getAttribute('aria-checked')) === 'false', { timeoutMs: 5_000 });
  await page.locator(`${sel.quickInput} .monaco-button`, { hasText: /^OK$/ }).first().click();
}

export default [
  {
    name: 'Plan Deploy: Push for a local commit, the plan view groups a no-change host apart, an unticked host is left out of the deploy (profiles on disk)',
    timeoutMs: 180_000,
    async run(ctx) {
      const { page, fleet } = ctx;
      const ws = fleet.bed.workstation;
      const hosts = ['h1', 'h2', 'alice@h3'];
      const before = Object.fromEntries(hosts.map((h) => [h, { gen: fleet.currentGeneration(h), store: fleet.currentStorePath(h) }]));
      // h1 and h2 move to a new version; alice@h3 is pinned to the version it runs: no change.
      const aliceVersion = before['alice@h3'].store.split('-').at(-1);
      const files = { 'hosts/h1/version': `${NEW_VERSION}\n`, 'hosts/h2/version': `${NEW_VERSION}\n`, 'hosts/alice@h3/version': `${aliceVersion}\n` };
      const { writeFileSync } = await import('node:fs');
      const path = await import('node:path');
      for (const [rel, content] of Object.entries(files)) writeFileSync(path.join(ws, rel), content);
      fleet.git(ws, 'add', '-A');
      fleet.git(ws, 'commit', '-q', '-m', `h1, h2: version ${NEW_VERSION} (not pushed yet)`);
      const commit = fleet.git(ws, 'rev-parse', 'HEAD');
      if (fleet.git(fleet.bed.origin, 'rev-parse', 'main') === commit) throw new Error('the commit is on origin already: the Push offer cannot be tested');

      await startPlan(page, commit);

      // Only local: the plan would fail on every host, so Push is offered first.
      const n = await notificationWithActions(page, new RegExp(`commit ${commit.slice(0, 12)} is only in the workspace clone`), 30_000);
      await page.waitForTimeout(400);
      await ctx.shot('23-plan-push-offer');
      if (!n.buttons.includes('Push')) throw new Error(`the notification offers no Push: ${n.buttons.join(', ')}`);
      await n.click('Push');
      await waitFor('the commit pushed to origin', () => fleet.git(fleet.bed.origin, 'rev-parse', 'main') === commit, { timeoutMs: 30_000 });

      const frame = await webviewFrame(page, '#groups', 30_000);
      let last;
      const plan = await waitFor('the plan of h1, h2 and alice@h3', async () => {
        last = await planState(frame);
        return /^Plan of commit/.test(last.headline) && last.groups.flatMap((g) => g.hosts).length === 3 ? last : null;
      }, { timeoutMs: 120_000, everyMs: 250 }).catch((err) => {
        throw new Error(`${err.message}; the plan view shows ${JSON.stringify(last)}`);
      });
      const groupOf = (h) => plan.groups.find((g) => g.hosts.some((x) => x.host === h));
      const hostOf = (h) => groupOf(h).hosts.find((x) => x.host === h);
      if (groupOf('alice@h3').kind !== 'no-change' || !/no change \(skipped\)/.test(groupOf('alice@h3').title)) throw new Error(`alice@h3 must be in the "no change" group: ${JSON.stringify(groupOf('alice@h3'))}`);
      if (hostOf('alice@h3').checked || !hostOf('alice@h3').disabled) throw new Error('a "no change" host cannot be ticked: it is skipped');
      for (const h of ['h1', 'h2']) {
        if (groupOf(h).kind !== 'change') throw new Error(`${h} changes: ${JSON.stringify(groupOf(h))}`);
        if (!hostOf(h).checked || hostOf(h).disabled) throw new Error(`${h} changes and must be ticked by default: ${JSON.stringify(hostOf(h))}`);
        if (!/^closure [+-]/.test(hostOf(h).note)) throw new Error(`${h} must show its closure size change: "${hostOf(h).note}"`);
      }
      if (!/Units: not known/.test(groupOf('h2').text)) throw new Error(`h2 (nix-darwin) must say its units are not known: ${groupOf('h2').text}`);
      if (/Units: not known/.test(groupOf('h1').text)) throw new Error(`h1 (NixOS) has known units: ${groupOf('h1').text}`);
      if (!/^Plan of commit \w+: 2 hosts change, 1 no change$/.test(plan.headline)) throw new Error(`headline: ${plan.headline}`);
      if (plan.deploy !== 'Deploy 2 Selected Hosts') throw new Error(`deploy button: ${plan.deploy}`);
      // Built, not activated: no profile moved.
      for (const h of hosts) if (fleet.currentGeneration(h) !== before[h].gen) throw new Error(`planning moved ${h}'s profile`);
      await ctx.shot('24-plan-view');

      // Leave h2 out.
      await frame.locator('label[data-host="h2"] input').click();
      await waitFor('the deploy button counts 1 host', async () => (await planState(frame)).deploy === 'Deploy 1 Selected Host', { timeoutMs: 5_000 });
      await ctx.shot('25-plan-h2-unticked');
      await frame.locator('#deploy').click();

      await waitNotification(page, new RegExp(`Deployed commit ${commit.slice(0, 12)} to 1 host`), 120_000);
      if (!fleet.currentStorePath('h1').endsWith(`-${NEW_VERSION}`)) throw new Error(`h1's profile does not point at the deployed system: ${fleet.currentStorePath('h1')}`);
      if (fleet.currentGeneration('h1') === before.h1.gen) throw new Error("h1's profile did not move");
      if (fleet.currentGeneration('h2') !== before.h2.gen || fleet.currentStorePath('h2') !== before.h2.store) throw new Error('h2 was unticked but its profile moved');
      if (fleet.currentGeneration('alice@h3') !== before['alice@h3'].gen) throw new Error('alice@h3 had no change but its profile moved');

      const summary = await webviewFrame(page, '#waves section', 30_000);
      const s = await waitSummary(summary, 'h1 succeeded and its wave passed', (x) => row(x, 'h1')?.outcome === 'succeeded', 30_000);
      if (s.rows.map((r) => r.host.replace(' (canary)', '')).join(',') !== 'h1') throw new Error(`the deploy must hold only h1: ${JSON.stringify(s.rows)}`);
      // h1's success comes before its wave's health gate ends: wait for the wave's own state.
      const readWaves = () => summary.evaluate(() => [...document.querySelectorAll('#waves section')].map((x) => ({ state: x.dataset.state, text: x.textContent })));
      let waves = await readWaves();
      for (let i = 0; i < 150 && waves.length === 1 && waves[0].state !== 'passed' && waves[0].state !== 'failed' && waves[0].state !== 'halted'; i++) {
        await page.waitForTimeout(200);
        waves = await readWaves();
      }
      if (waves.length !== 1 || waves[0].state !== 'passed' || !/h1: succeeded/.test(waves[0].text)) throw new Error(`one wave, passed, with h1 succeeded: ${JSON.stringify(waves)}`);
      await ctx.shot('26-plan-deployed-summary');
    },
  },
  {
    name: 'Plan Deploy whose wave fails: the summary shows the halted wave and asks the failure policy; Keep, then Retry Failed Hosts reruns only h2 and the rollout passes',
    timeoutMs: 240_000,
    async run(ctx) {
      const { page, fleet } = ctx;
      const version = '24.05.8';
      const before = Object.fromEntries(['h1', 'h2', 'alice@h3'].map((h) => [h, { gen: fleet.currentGeneration(h), store: fleet.currentStorePath(h) }]));
      const aliceVersion = before['alice@h3'].store.split('-').at(-1);
      const commit = fleet.commit({ 'hosts/h1/version': `${version}\n`, 'hosts/h2/version': `${version}\n`, 'hosts/alice@h3/version': `${aliceVersion}\n` }, `h1, h2: version ${version}`);
      // h2's activation of the new system fails until the hook is removed (the agent undoes it).
      const { rmSync, writeFileSync } = await import('node:fs');
      const h2 = fleet.host('h2');
      const failLine = `e2e-plan: h2 refused ${version}`;
      writeFileSync(h2.hookFile, `case "$NIXFLEET_TESTBED_STORE_PATH" in *-${version}) ;; *) exit 0 ;; esac\necho "${failLine}" >&2\nexit 1\n`);
      try {
        await startPlan(page, commit);
        const frame = await webviewFrame(page, '#groups', 30_000);
        await waitFor('the plan with h1 and h2 ticked', async () => (await planState(frame)).deploy === 'Deploy 2 Selected Hosts', { timeoutMs: 120_000, everyMs: 250 });
        await frame.locator('#deploy').click();

        // The canaries (h1, h2: nixfleet.deploy.canaryHosts) are the one wave; h2 fails, the
        // rollout halts and asks (nixfleet.deploy.onFailure: ask), in the summary and a notification.
        const summary = await webviewFrame(page, '#question button', 120_000);
        const asked = await summary.evaluate(() => ({
          question: document.getElementById('question')?.textContent ?? '',
          buttons: [...document.querySelectorAll('#question button')].map((b) => b.textContent),
          actions: [...document.querySelectorAll('#actions button')].map((b) => b.textContent),
        }));
        if (!/Wave 1 \(canaries\) failed on h2; the rollout halted/.test(asked.question)) throw new Error(`the question must name the wave and h2: ${asked.question}`);
        if (asked.buttons.join('|') !== 'Keep Switched Hosts|Roll Back Failed Wave|Roll Back Everything') throw new Error(`policy buttons: ${asked.buttons.join(', ')}`);
        if (asked.actions.length) throw new Error(`while the question is open no other action is offered: ${asked.actions.join(', ')}`);
        await waitNotification(page, /Wave 1 \(canaries\) failed on h2/, 10_000);
        await ctx.shot('27-rollout-halted-question');
        await summary.locator('#question button', { hasText: 'Keep Switched Hosts' }).click();

        const halted = await waitSummary(summary, 'the rollout halted with Retry Failed Hosts and Resume', (x) => /halted at wave 1 \(canaries\) on h2.*policy: keep/.test(x.headline) && x.actions.includes('Retry Failed Hosts'), 60_000);
        for (const a of ['Retry Failed Hosts', 'Resume', 'Rollback Deployed Hosts']) if (!halted.actions.includes(a)) throw new Error(`after the halt the summary must offer ${a}: ${halted.actions.join(', ')}`);
        if (!row(halted, 'h2').line.startsWith(failLine)) throw new Error(`h2's failing line: ${JSON.stringify(row(halted, 'h2'))}`);
        const waves = await summary.evaluate(() => [...document.querySelectorAll('#waves section')].map((x) => ({ state: x.dataset.state, cls: x.className, text: x.textContent })));
        if (waves.length !== 1 || waves[0].state !== 'failed' || !/halted/.test(waves[0].cls) || !/rollout halted here/.test(waves[0].text)) throw new Error(`the wave section must show the halt: ${JSON.stringify(waves)}`);
        if (!fleet.currentStorePath('h1').endsWith(`-${version}`)) throw new Error('keep: h1 stays on the new system');
        if (fleet.currentGeneration('h2') !== before.h2.gen) throw new Error("h2's failed activation was not undone on disk");
        await page.waitForTimeout(300);
        await ctx.shot('28-rollout-halted-kept');

        const h1Gen = fleet.currentGeneration('h1');
        rmSync(h2.hookFile, { force: true });
        await summary.locator('#actions button', { hasText: 'Retry Failed Hosts' }).click();
        await waitNotification(page, new RegExp(`Deployed commit ${commit.slice(0, 12)} to 2 hosts`), 120_000);
        if (!fleet.currentStorePath('h2').endsWith(`-${version}`)) throw new Error(`the retry did not switch h2: ${fleet.currentStorePath('h2')}`);
        if (fleet.currentGeneration('h1') !== h1Gen) throw new Error('the retry switched h1 again: only failed hosts are retried');
        if (fleet.currentGeneration('alice@h3') !== before['alice@h3'].gen) throw new Error('alice@h3 (no change) moved');
        const done = await waitSummary(summary, 'every host succeeded after the retry', (x) => row(x, 'h2')?.outcome === 'succeeded' && /^Deployed/.test(x.headline), 30_000);
        if (done.actions.includes('Retry Failed Hosts') || done.actions.includes('Resume')) throw new Error(`nothing to retry or resume after success: ${done.actions.join(', ')}`);
        await ctx.shot('29-rollout-retried');
      } finally {
        rmSync(h2.hookFile, { force: true });
      }
    },
  },
];
