// Operations from the UI against real agents on real Nix: Rollback from a generation's context
// menu and from the palette (checked on disk: the profile link and the activation log; Enter in
// the confirmation keeps the generation),
// Force Rebuild from the command palette with its output streamed live into the host's output
// channel, and Show Logs from a success message with the host's history first.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { childrenOf, showGenerations } from './02-fleet.mjs';
import { sel } from '../lib/browser.mjs';
import { contextMenu, dialog, notificationWithActions, openFleetView, outputChannel, outputLines, pickQuick, rowLocator, runPaletteCommand, waitNotification, waitTree } from '../lib/workbench.mjs';
import { waitFor } from '../lib/procs.mjs';

function lastActivation(host) {
  const lines = readFileSync(host.activationLog, 'utf8').split('\n').filter(Boolean);
  const [script = '', storePath = '', args = ''] = (lines.at(-1) ?? '').split('\t');
  return { count: lines.length, script, storePath, args };
}

/** Every op journal line of the host's op of `kind` that started last (agent's stateDir). */
function journalLines(host, kind) {
  const opsDir = path.join(host.stateDir, 'ops');
  if (!existsSync(opsDir)) return { op: null, lines: [] };
  const ops = readdirSync(opsDir)
    .map((id) => {
      try {
        return { id, info: JSON.parse(readFileSync(path.join(opsDir, id, 'op.json'), 'utf8')) };
      } catch {
        return null;
      }
    })
    .filter((o) => o && o.info.kind === kind)
    .sort((a, b) => String(a.info.startedAt).localeCompare(String(b.info.startedAt)));
  const op = ops.at(-1);
  if (!op) return { op: null, lines: [] };
  const file = path.join(opsDir, op.id, 'journal.jsonl');
  const lines = existsSync(file)
    ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
    : [];
  return { op, lines };
}

/** "14:35:02.456": an ISO time as the host log shows it (local time, as VS Code's own stamps). */
function timeOfDay(iso) {
  const d = new Date(iso);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/**
 * The output panel's log lines: its visual lines joined (word wrap splits a long line), cut where
 * VS Code's stamp starts a new one ("2026-12-04 15:00:31.877 [info] ...").
 */
async function logicalLines(page) {
  const joined = (await outputLines(page)).join('\n');
  return joined
    .split(/\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[)/)
    .map((l) => l.replace(/\n/g, ' ').trim())
    .filter(Boolean);
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export default [
  {
    name: "Show Logs from a success message: the host's earlier op (run while the window was away) first, replayed from the journal, the op just run last, each line at its journal time",
    timeoutMs: 120_000,
    async run(ctx) {
      const { page, fleet } = ctx;
      const host = fleet.host('h1');
      // An op VS Code did not see: the agent's own CLI on the host while its server is down (so
      // no window follows it live), before the first one run from VS Code on h1. The host's
      // channel is made for that one, with the journal's recent ops first.
      const env = { ...process.env, PATH: fleet.bed.path };
      delete env.NODE_OPTIONS;
      await fleet.stopAgent('h1');
      const cli = spawnSync(process.execPath, [path.join(root, 'dist/agent.js'), 'pull', '--config', host.config], { env, encoding: 'utf8', timeout: 90_000 });
      if (cli.status !== 0) throw new Error(`nixfleet-agent pull on h1 failed (exit ${cli.status}): ${(cli.stderr || cli.stdout || '').trim()}`);
      const pull = journalLines(host, 'pull');
      if (!pull.op || !pull.lines.length) throw new Error(`the CLI's pull left no journal in ${host.stateDir}/ops`);
      await fleet.startAgent('h1');

      await openFleetView(page);
      await runPaletteCommand(page, 'NixFleet: Run Tests');
      await pickQuick(page, 'h1');
      const done = await notificationWithActions(page, /Health checks passed on h1/, 60_000);
      if (!done.buttons.includes('Show Logs')) throw new Error(`the success message has no Show Logs button: "${done.text}" [${done.buttons.join(', ')}]`);
      await done.click('Show Logs');
      await waitFor("h1's log in the panel", async () => /NixFleet: h1/.test(await outputChannel(page)) || null, { timeoutMs: 15_000, everyMs: 200 });
      // The panel's filter narrows the log to the lines asked about, so they all fit on screen.
      const filter = page.locator(`${sel.panel} input[placeholder="Filter"]`).first();
      const filtered = async (text, what, ok) => {
        await filter.fill(text);
        return waitFor(what, async () => {
          const l = await logicalLines(page);
          return l.length && l.every((x) => x.includes(text)) && ok(l) ? l : null;
        }, { timeoutMs: 30_000, everyMs: 250 });
      };
      try {
        // Every op's first line (▶), in the order shown: the CLI's pull before the Run Tests just run, which is last.
        const heads = await filtered(' ▶ ', "the ops' first lines, the CLI's pull among them and Run Tests last", (l) =>
          l.some((x) => x.includes(`(op ${pull.op.id})`)) && / \[test\] ▶ test /.test(l.at(-1)),
        );
        await ctx.shot('05a-show-logs-ops-in-order');
        const starts = heads.map((l) => /started (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) /.exec(l)?.[1]);
        if (starts.some((x) => !x) || starts.join('|') !== [...starts].sort().join('|')) throw new Error(`the ops are not shown in the order they started:\n${heads.join('\n')}`);
        // Each line carries its own time, the journal's (VS Code's stamp before it is when it was written).
        const strip = (t) => t.replace(/\s+/g, '');
        const want = pull.lines.map((j) => strip(`${timeOfDay(j.time)} [pull] ${j.stream === 'info' ? '» ' : ''}${j.text}`));
        const pulls = await filtered('[pull]', "the pull's lines", (l) => l.length >= 3);
        await ctx.shot('05b-show-logs-journal-times');
        const body = pulls.filter((l) => !/ \[pull\] [▶■] /.test(l));
        if (!body.length) throw new Error(`no output line of the pull is shown:\n${pulls.join('\n')}`);
        for (const l of body) {
          if (!want.some((w) => strip(l).endsWith(w))) throw new Error(`the pull's line "${l}" does not carry its journal time; the journal has:\n${want.join('\n')}`);
        }
      } finally {
        await filter.fill('').catch(() => {});
      }
    },
  },
  {
    name: "Rollback from a generation's context menu moves the host's profile on disk",
    async run(ctx) {
      const { page, fleet } = ctx;
      const host = fleet.host('h1');
      const from = fleet.currentGeneration('h1');
      const to = from - 1;
      const target = host.generations[to - 1];
      if (!target) throw new Error(`test bed: h1 has no generation ${to}`);
      const before = lastActivation(host);
      await showGenerations(page, 'h1');
      const row = rowLocator(page, new RegExp(`^\\s*Generation ${to}\\b`), 3);
      await row.waitFor({ timeout: 20_000 });
      await contextMenu(page, row, 'Rollback to This Generation');
      const d = await dialog(page);
      await ctx.shot('06-rollback-confirmation');
      if (!d.text.includes(`Roll back h1 to generation ${to}?`) || !new RegExp(`From: generation ${from}\\b`).test(d.text) || !new RegExp(`To: generation ${to}\\b`).test(d.text)) {
        throw new Error(`the confirmation must ask "Roll back h1 to generation ${to}?" and name FROM generation ${from} and TO generation ${to}; it says: "${d.text}"`);
      }
      if (!d.buttons.includes(`Keep Generation ${from}`)) throw new Error(`the confirmation has no "Keep Generation ${from}" button; buttons: ${d.buttons.join(', ')}`);
      const confirm = d.buttons.find((b) => /^roll back$/i.test(b));
      if (!confirm) throw new Error(`the confirmation has no Roll Back button; buttons: ${d.buttons.join(', ')}`);
      await d.click(confirm);

      await waitFor(`h1's profile link to point at generation ${to}`, () => fleet.currentGeneration('h1') === to, { timeoutMs: 60_000, everyMs: 100 });
      const done = await notificationWithActions(page, new RegExp(`Rolled back h1 to generation ${to}\\b`));
      if (!done.buttons.includes('Show Logs')) throw new Error(`the rollback's success message has no Show Logs button: "${done.text}" [${done.buttons.join(', ')}]`);
      const after = lastActivation(host);
      if (after.count <= before.count || after.storePath !== target.storePath) {
        throw new Error(`the rollback did not activate generation ${to} (${target.storePath}); last activation: ${after.script} ${after.storePath} ${after.args}`);
      }
      await waitTree(page, `h1 shown on generation ${to}`, (rows) => {
        const h = rows.find((r) => r.level === 1 && r.label === 'h1');
        if (!h || !new RegExp(`\\bgen ${to}\\b`).test(h.description)) return null;
        const gensRow = childrenOf(rows, h).find((r) => r.label === 'Generations');
        const cur = gensRow && childrenOf(rows, gensRow).filter((r) => /current/.test(r.label));
        return cur && cur.length === 1 && cur[0].label.startsWith(`Generation ${to} `);
      }, 30_000, { keepExpanded: ['h1', 'Generations'] });
      await ctx.shot('07-rolled-back');

      // Generation `from` is now the newer one: the same menu item asks to switch forward, not
      // to roll back, warns when its tests never ran, and Enter (the default button) keeps the host where it is.
      const newerRow = rowLocator(page, new RegExp(`^\\s*Generation ${from}\\b`), 3);
      await newerRow.waitFor({ timeout: 20_000 });
      await contextMenu(page, newerRow, 'Rollback to This Generation');
      const fwd = await dialog(page);
      await ctx.shot('07b-switch-forward-confirmation');
      if (!fwd.text.includes(`Switch h1 to generation ${from}?`) || fwd.text.includes('Roll back') || !/newer than the current one/.test(fwd.text)) {
        throw new Error(`to the newer generation ${from} the confirmation must ask "Switch h1 to generation ${from}?" and say it is newer, not "Roll back"; it says: "${fwd.text}"`);
      }
      const untested = new RegExp(`To: generation ${from}, [^]*?tests not run`).test(fwd.text);
      if (untested && !fwd.text.includes(`Warning: the health checks never ran on generation ${from}`)) throw new Error(`generation ${from}'s tests never ran, but the confirmation does not warn: "${fwd.text}"`);
      if (!fwd.buttons.includes('Switch') || fwd.buttons.some((b) => /^roll back$/i.test(b))) throw new Error(`the forward confirmation's buttons must offer Switch, not Roll Back: ${fwd.buttons.join(', ')}`);
      const activations = lastActivation(host).count;
      await page.keyboard.press('Enter');
      await page.locator(sel.dialog).waitFor({ state: 'hidden', timeout: 10_000 });
      await page.waitForTimeout(1000);
      if (fleet.currentGeneration('h1') !== to || lastActivation(host).count !== activations) throw new Error(`Enter on the forward confirmation moved h1 (generation ${fleet.currentGeneration('h1')}, expected ${to})`);
    },
  },
  {
    name: 'Rollback from the palette: generations QuickPick with the previous one preselected; picking one rolls a home-manager host back on disk',
    async run(ctx) {
      const { page, fleet } = ctx;
      const name = 'alice@h3';
      const host = fleet.host(name);
      const from = fleet.currentGeneration(name);
      const to = 1;
      const all = host.generations.map((_, i) => i + 1).sort((a, b) => b - a);
      await openFleetView(page);
      await runPaletteCommand(page, 'NixFleet: Rollback');
      await pickQuick(page, name);
      const rows = page.locator('.quick-input-list .monaco-list-row');
      await rows.filter({ hasText: /Generation \d+/ }).first().waitFor({ timeout: 20_000 });
      const labels = (await rows.locator('.label-name').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
      const rowTexts = (await rows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
      const offered = labels.map((t) => Number(/Generation (\d+)$/.exec(t)?.[1])).filter(Number.isFinite);
      // The current generation may be listed for orientation (then marked current) or left out
      // (then named in the title); every other generation must be offered, newest first.
      const targets = offered.filter((g) => g !== from);
      if (JSON.stringify(targets) !== JSON.stringify(all.filter((g) => g !== from)) || JSON.stringify(offered) !== JSON.stringify([...offered].sort((x, y) => y - x))) {
        throw new Error(`the QuickPick must offer every generation but the current (${from}), newest first; it shows: ${rowTexts.join(' | ')}`);
      }
      const title = (await page.locator('.quick-input-title').first().innerText().catch(() => '')).trim();
      if (offered.includes(from)) {
        const cur = rowTexts.find((t) => t.includes(`Generation ${from}`));
        if (!/current/.test(cur.replace(`Generation ${from}`, ''))) throw new Error(`generation ${from} is listed but not marked current: ${cur}`);
      } else if (!new RegExp(`generation ${from}\\b`).test(title)) {
        throw new Error(`the QuickPick neither lists the current generation ${from} nor names it in its title ("${title}")`);
      }
      const active = (await page.locator('.quick-input-list .monaco-list-row.focused .label-name').allInnerTexts())[0]?.replace(/\s+/g, ' ').trim() ?? '';
      if (!new RegExp(`Generation ${from - 1}$`).test(active)) {
        throw new Error(`with no tested generation, the previous one (${from - 1}) must be preselected; preselected: "${active || 'nothing'}"`);
      }
      await ctx.shot('08-rollback-quickpick');
      await pickQuick(page, `Generation ${to}`);
      // Enter takes the confirmation's default button: it must leave the host as it is.
      await dialog(page);
      const unchanged = lastActivation(host).count;
      await page.keyboard.press('Enter');
      await page.locator(sel.dialog).waitFor({ state: 'hidden', timeout: 10_000 });
      await page.waitForTimeout(1000);
      if (fleet.currentGeneration(name) !== from || lastActivation(host).count !== unchanged) {
        throw new Error(`Enter in the rollback confirmation rolled ${name} back (now on generation ${fleet.currentGeneration(name)}): the default button must change nothing`);
      }
      await runPaletteCommand(page, 'NixFleet: Rollback');
      await pickQuick(page, name);
      await pickQuick(page, `Generation ${to}`);
      const d = await dialog(page);
      if (!d.text.includes(`Roll back ${name} to generation ${to}?`) || !new RegExp(`From: generation ${from}\\b`).test(d.text) || !new RegExp(`To: generation ${to}\\b`).test(d.text)) {
        throw new Error(`the confirmation must name ${name}, FROM generation ${from} and TO generation ${to}; it says: "${d.text}"`);
      }
      const before = lastActivation(host);
      await d.click(d.buttons.find((b) => /^roll back$/i.test(b)) ?? 'Roll Back');
      await waitFor(`${name}'s profile link to point at generation ${to}`, () => fleet.currentGeneration(name) === to, { timeoutMs: 60_000, everyMs: 100 });
      await waitNotification(page, new RegExp(`Rolled back ${name} to generation ${to}\\b`));
      const after = lastActivation(host);
      if (after.count <= before.count || after.storePath !== host.generations[to - 1].storePath) {
        throw new Error(`the rollback did not activate generation ${to} (${host.generations[to - 1].storePath}); last activation: ${after.script} ${after.storePath}`);
      }
    },
  },
  {
    name: 'Force Rebuild from the palette streams its output live into the output panel, each line once',
    timeoutMs: 120_000,
    async run(ctx) {
      const { page, fleet } = ctx;
      const host = fleet.host('h2');
      // The activation script runs this hook (test bed): three lines two seconds apart, so the
      // panel can be seen showing the first while the op is still running.
      const marker = `e2e-${Date.now()}`;
      writeFileSync(
        host.hookFile,
        `case "$1" in activate|switch-to-configuration) ;; *) exit 0 ;; esac\n` +
          `for i in 1 2 3; do echo "${marker} step $i of 3"; [ $i = 3 ] || sleep 2; done\n`,
      );
      try {
        await openFleetView(page);
        await runPaletteCommand(page, 'NixFleet: Force Rebuild');
        await pickQuick(page, 'h2');
        // Open the host's log while the op runs.
        await runPaletteCommand(page, 'NixFleet: Show Logs');
        await pickQuick(page, 'h2');
        const seen = async () => (await outputLines(page)).filter((l) => l.includes(marker));
        const first = await waitFor('the first hook line in the output panel', async () => {
          const l = await seen();
          return l.length ? l : null;
        }, { timeoutMs: 60_000, everyMs: 100 });
        const live = !first.some((l) => l.includes('step 3 of 3'));
        await ctx.shot('09-force-rebuild-streaming');
        await waitNotification(page, /Rebuilt h2/, 60_000);
        const lines = await waitFor('all three hook lines in the output panel', async () => {
          const l = await seen();
          return l.some((x) => x.includes('step 3 of 3')) ? l : null;
        }, { timeoutMs: 20_000, everyMs: 200 });
        await ctx.shot('10-force-rebuild-done');
        if (!live) throw new Error(`the output panel showed nothing until the op had printed its last line: ${first.join(' / ')}`);
        for (const i of [1, 2, 3]) {
          const n = lines.filter((l) => l.includes(`${marker} step ${i} of 3`)).length;
          if (n !== 1) throw new Error(`"${marker} step ${i} of 3" appears ${n} times in the output panel, expected once:\n${lines.join('\n')}`);
        }
        const journal = journalLines(host, 'force-rebuild');
        if (!journal.op) throw new Error(`no force-rebuild op in h2's state dir ${host.stateDir}/ops`);
        const inJournal = journal.lines.filter((l) => String(l.text ?? '').includes(marker)).length;
        if (inJournal !== 3) throw new Error(`h2's journal for op ${journal.op.id} has ${inJournal} hook lines, expected 3`);
        const all = await outputLines(page);
        if (!all.some((l) => /force-rebuild/.test(l) && /succeeded/.test(l))) {
          throw new Error(`the output panel does not show the op's end (force-rebuild succeeded):\n${all.join('\n')}`);
        }
      } finally {
        rmSync(host.hookFile, { force: true });
      }
    },
  },
  {
    name: 'Rebuild Smart from the palette shows its plan (a dry run: the phases, the git commit and push it will run) and asks before it commits and pushes; Not Now changes nothing',
    async run(ctx) {
      const { page, fleet } = ctx;
      const host = fleet.host('h1');
      const file = path.join(host.checkout, 'hosts', 'h1', 'version');
      const original = readFileSync(file, 'utf8');
      const git = (cwd, ...args) => fleet.git(cwd, ...args);
      const before = { gen: fleet.currentGeneration('h1'), head: git(host.checkout, 'rev-parse', 'HEAD'), origin: git(fleet.bed.origin, 'rev-parse', 'main') };
      // A change made on the host itself: what Rebuild Smart would build, commit and push.
      writeFileSync(file, '24.05.8\n');
      try {
        await openFleetView(page);
        await runPaletteCommand(page, 'NixFleet: Rebuild Smart');
        await pickQuick(page, 'h1');
        const d = await dialog(page, 60_000);
        await ctx.shot('25-rebuild-smart-plan');
        const want = [
          [/Rebuild Smart on h1: rebuild, then commit and push from its checkout\?/, 'what it asks'],
          [/Phases \(\d+\): 1\. /, 'the phases that will run'],
          [/Will run: .*git commit\b.*git push\b/, 'the git commit and push it will run'],
        ];
        for (const [re, what] of want) if (!re.test(d.text)) throw new Error(`the Rebuild Smart confirmation must show ${what}: "${d.text}"`);
        if (!d.buttons.includes('Not Now') || !d.buttons.includes('Run Rebuild Smart')) throw new Error(`the confirmation must offer "Not Now" and "Run Rebuild Smart": [${d.buttons.join(', ')}]`);
        await d.click('Not Now');
        await page.locator(sel.dialog).waitFor({ state: 'hidden', timeout: 5_000 });
        // Declined: the dry run changed nothing, and nothing ran after it.
        const after = { gen: fleet.currentGeneration('h1'), head: git(host.checkout, 'rev-parse', 'HEAD'), origin: git(fleet.bed.origin, 'rev-parse', 'main') };
        if (JSON.stringify(after) !== JSON.stringify(before)) throw new Error(`declining Rebuild Smart changed h1: ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
        if (readFileSync(file, 'utf8') !== '24.05.8\n') throw new Error('declining Rebuild Smart touched the local change');
      } finally {
        writeFileSync(file, original);
      }
    },
  },
];
