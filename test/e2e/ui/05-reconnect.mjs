// An agent that goes away: its host stays in the Fleet view with its last known state and the
// reason; when the agent is back, the extension reconnects by itself (backoff, no reload).
import { childrenOf, showHost } from './02-fleet.mjs';
import { waitTree } from '../lib/workbench.mjs';

export default [
  {
    name: 'a host whose agent stops shows offline with its last known generations, and comes back online when the agent restarts',
    timeoutMs: 150_000,
    async run(ctx) {
      const { page, fleet } = ctx;
      const name = 'h2';
      const gen = fleet.currentGeneration(name);
      await showHost(page, name);
      await waitTree(page, `${name} online with its Generations row`, (rows) => {
        const h = rows.find((r) => r.level === 1 && r.label === name);
        return h && /\bonline\b/.test(h.description) && childrenOf(rows, h).some((r) => r.label === 'Generations' && r.description.startsWith('3'));
      }, 30_000, { keepExpanded: [name] });
      await fleet.stopAgent(name);
      const off = await waitTree(page, `${name} offline after its agent stopped`, (rows) => {
        const h = rows.find((r) => r.level === 1 && r.label === name);
        if (!h || !/offline/.test(h.description)) return null;
        const kids = childrenOf(rows, h);
        const agent = kids.find((r) => r.label === 'Agent');
        return agent && /^offline/.test(agent.description) ? { h, kids } : null;
      }, 60_000, { keepExpanded: [name] });
      const gens = off.kids.find((r) => r.label === 'Generations');
      if (!gens || !new RegExp(`^3\\b.*current ${gen}\\b`).test(gens.description)) {
        throw new Error(`offline ${name} must keep its last known generations (3, current ${gen}); its rows: ${off.kids.map((r) => r.text).join(' | ')}`);
      }
      await ctx.shot('12-agent-stopped');
      await fleet.startAgent(name);
      await waitTree(page, `${name} online again after its agent restarted`, (rows) => {
        const h = rows.find((r) => r.level === 1 && r.label === name);
        return h && /\bonline\b/.test(h.description) && new RegExp(`\\bgen ${gen}\\b`).test(h.description);
      }, 90_000);
      await ctx.shot('13-agent-back');
    },
  },
];
