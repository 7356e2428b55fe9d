// The Fleet view against real agents: every host, its status rows and its generations (read
// from the real profile links on disk), and an unreachable host shown offline.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { OFFLINE_HOST } from '../lib/fleet.mjs';
import { expand, openFleetView, treeRows, waitRow, waitTree } from '../lib/workbench.mjs';

/** Generation numbers present on disk for a profile (P-N-link files). */
export function generationsOnDisk(profile) {
  const base = path.basename(profile);
  return readdirSync(path.dirname(profile))
    .map((f) => new RegExp(`^${base}-(\\d+)-link$`).exec(f))
    .filter(Boolean)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
}

/** Rows directly under the row at `index` (the tree is flat in the DOM; levels say nesting). */
export function childrenOf(rows, parent) {
  const i = rows.findIndex((r) => r.index === parent.index);
  const out = [];
  for (let j = i + 1; j < rows.length && rows[j].level > parent.level; j++) if (rows[j].level === parent.level + 1) out.push(rows[j]);
  return out;
}

export async function showHost(page, name) {
  await openFleetView(page);
  const row = await waitRow(page, name, { level: 1 });
  await expand(page, row);
  return row;
}

export async function showGenerations(page, host) {
  const hostRow = await showHost(page, host);
  for (let attempt = 1; ; attempt++) {
    const found = await waitTree(page, `the Generations row of ${host}`, (rows) => {
      const h = rows.find((r) => r.level === 1 && r.label === host);
      const kids = h ? childrenOf(rows, h) : [];
      // Only once the host's status is in (its Tests row): the status brings the rows above
      // Generations (drift rows among them), which would move it under a click by index.
      return kids.some((r) => r.label === 'Tests') && kids.find((r) => r.label === 'Generations');
    }, 30_000, { keepExpanded: [host] });
    const gensRow = page.locator(`.part.sidebar .monaco-list-row[data-index="${found.index}"]`);
    // A refresh between reading the tree and locating the row shifts the indices: expand only the row read.
    const label = ((await gensRow.locator('.label-name').textContent().catch(() => '')) ?? '').trim();
    if (label !== 'Generations' && attempt < 5) continue;
    await expand(page, gensRow);
    return { hostRow, gensRow };
  }
}

export default [
  {
    name: 'Fleet view shows every host, online, with its running generation',
    async run(ctx) {
      const { page, fleet } = ctx;
      await openFleetView(page);
      if (ctx.agentErrors.length) throw new Error(`the agents did not start, so no host can be online: ${ctx.agentErrors.join('; ')}`);
      for (const h of [...fleet.bed.hosts.map((x) => x.name), OFFLINE_HOST]) await waitRow(page, h, { level: 1 });
      for (const h of fleet.bed.hosts) {
        const gen = fleet.currentGeneration(h.name);
        await waitTree(page, `${h.name} online at generation ${gen}`, (rows) =>
          rows.find((r) => r.level === 1 && r.label === h.name && /\bonline\b/.test(r.description) && new RegExp(`\\bgen ${gen}\\b`).test(r.description)),
        );
      }
      await ctx.shot('03-fleet-hosts');
    },
  },
  {
    name: 'a host shows its status rows (Agent, Git, Lock, System, Tests) and its generations from disk',
    async run(ctx) {
      const { page, fleet } = ctx;
      const host = fleet.host('h1');
      await showGenerations(page, 'h1');
      const onDisk = generationsOnDisk(host.profile);
      const current = fleet.currentGeneration('h1');
      const rows = await waitTree(page, `h1's status rows and ${onDisk.length} generations`, (rows) => {
        const h = rows.find((r) => r.level === 1 && r.label === 'h1');
        if (!h) return null;
        const kids = childrenOf(rows, h);
        const gensRow = kids.find((r) => r.label === 'Generations');
        if (!gensRow || childrenOf(rows, gensRow).filter((r) => /^Generation \d+/.test(r.label)).length !== onDisk.length) return null;
        return { kids, gens: childrenOf(rows, gensRow) };
      }, 30_000, { keepExpanded: ['h1', 'Generations'] });
      const byLabel = Object.fromEntries(rows.kids.map((r) => [r.label, r.description]));
      for (const label of ['Agent', 'Git', 'Lock', 'System', 'Tests']) {
        if (!(label in byLabel)) throw new Error(`h1 has no "${label}" status row; rows: ${rows.kids.map((r) => r.text).join(' | ')}`);
      }
      if (!/^online/.test(byLabel.Agent)) throw new Error(`h1's Agent row says "${byLabel.Agent}", expected online + version`);
      if (!/\d+\.\d+\.\d+/.test(byLabel.Agent)) throw new Error(`h1's Agent row "${byLabel.Agent}" shows no agent version`);
      if (!/up to date/.test(byLabel.Git)) throw new Error(`h1's checkout is at origin's head, but the Git row says "${byLabel.Git}"`);
      if (!new RegExp(`generation ${current}\\b`).test(byLabel.System)) throw new Error(`h1 runs generation ${current} (profile link on disk), but the System row says "${byLabel.System}"`);
      const shown = rows.gens.map((r) => Number(/^Generation (\d+)/.exec(r.label)?.[1])).filter(Number.isFinite);
      if (JSON.stringify(shown) !== JSON.stringify(onDisk)) {
        throw new Error(`the profile on disk has generations ${onDisk.join(', ')} (newest first), the view shows ${shown.join(', ')}`);
      }
      const currentRow = rows.gens.find((r) => r.label.startsWith(`Generation ${current} `) || r.label === `Generation ${current}`);
      if (!currentRow || !/current/.test(currentRow.label)) throw new Error(`Generation ${current} is current on disk but not marked current: ${rows.gens.map((r) => r.label).join(' | ')}`);
      const marked = rows.gens.filter((r) => /current/.test(r.label));
      if (marked.length !== 1) throw new Error(`exactly one generation must be marked current, got: ${marked.map((r) => r.label).join(' | ')}`);
      await ctx.shot('04-host-status-and-generations');
    },
  },
  {
    name: 'an unreachable host stays visible and shows offline with the reason',
    async run(ctx) {
      const { page } = ctx;
      await showHost(page, OFFLINE_HOST);
      const rows = await waitTree(page, `${OFFLINE_HOST} offline`, (rows) => {
        const h = rows.find((r) => r.level === 1 && r.label === OFFLINE_HOST);
        if (!h || !/offline/.test(h.description)) return null;
        const agent = childrenOf(rows, h).find((r) => r.label === 'Agent');
        return agent && /^offline/.test(agent.description) ? { h, agent } : null;
      }, 30_000, { keepExpanded: [OFFLINE_HOST] });
      if (rows.agent.description.trim() === 'offline') throw new Error(`the offline Agent row gives no reason: "${rows.agent.description}"`);
      await ctx.shot('05-offline-host');
    },
  },
];
