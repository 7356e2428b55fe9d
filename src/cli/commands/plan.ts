// `nixfleet plan`: the fleet's plan for a commit (every host builds it without activating,
// in parallel; the same buildFleetPlan/groupPlan as the extension's Plan Deploy), grouped by
// change set. Nothing is activated: it takes no --yes.
import { buildFleetPlan, groupPlan } from '../../deploy/fleetPlan';
import { newDeployId } from '../../deploy/plan';
import { commitArg, hostListArg, stringFlag, UsageError } from '../args';
import type { Command } from '../command';
import { cliDeployAgents } from '../deployAgents';

export const planCommand: Command = {
  name: 'plan',
  summary: 'what a deploy of a commit would change on each host (packages, closure size, units), built without activating',
  details: [
    'Every host builds the commit (the agent\'s build op, in parallel; nothing is activated) and says what a switch would',
    'change: package versions added, removed or changed, the closure size change, and the units that would stop, restart,',
    'reload and start ("not known" where the platform cannot say). Hosts with the same change set are one group; hosts whose',
    'system would not change are "no change" (a deploy skips them). The groups go to stdout, or { "plan", "groups" } with',
    '--json. Exit 0 only when every host was planned.',
  ].join('\n'),
  positionals: [],
  flags: {
    rev: { type: 'string', value: 'COMMIT', help: 'the commit to plan (required; it must be in the hosts\' origin)' },
    hosts: { type: 'string', value: 'A,B', help: 'plan these hosts (default: every host of the hosts file)' },
  },
  mutating: false,
  async run(ctx) {
    const revText = stringFlag(ctx.flags, 'rev');
    if (revText === undefined) throw new UsageError('plan: give the commit with --rev COMMIT (e.g. --rev "$(git rev-parse HEAD)")');
    const rev = commitArg('plan', 'rev', revText);
    const hostsText = stringFlag(ctx.flags, 'hosts');
    const hosts = hostsText === undefined ? ctx.source().hosts().map((h) => h.name) : hostListArg('plan', 'hosts', hostsText);
    for (const h of hosts) ctx.knownHost(h);
    // The build evaluates and builds on the host: it needs the same authorisation as a change.
    for (const h of hosts) ctx.source().checkCanOperate(h);

    const agents = cliDeployAgents(ctx.connections(), (host, text) => ctx.out.note(`${host}: ${text}`));
    ctx.out.note(`planning commit ${rev.slice(0, 12)} on ${hosts.length} host${hosts.length === 1 ? '' : 's'} (building, not activating)…`);
    const plan = await buildFleetPlan({
      agents,
      id: newDeployId(),
      commit: rev,
      hosts,
      signal: ctx.signal,
      onHost: (h) => ctx.out.note(`${h.host}: ${h.state === 'planned' ? (h.plan!.noChange ? 'planned: no change' : 'planned') : `plan failed: ${h.error}`}`),
    });
    const groups = groupPlan(plan);
    if (ctx.json) ctx.out.json({ plan, groups });
    else {
      ctx.out.print(`Plan of commit ${rev.slice(0, 12)} for ${hosts.length} host${hosts.length === 1 ? '' : 's'}:`);
      for (const g of groups) {
        ctx.out.print(`${g.summary}`);
        ctx.out.print(`  hosts: ${g.hosts.join(', ')}`);
        if (g.kind !== 'change') continue;
        for (const p of g.packages) ctx.out.print(`  package ${p.change}: ${p.name} ${p.from.join(', ') || '-'} → ${p.to.join(', ') || '-'}`);
        if (g.units) {
          for (const k of ['stop', 'restart', 'reload', 'start'] as const) if (g.units[k].length) ctx.out.print(`  units to ${k}: ${g.units[k].join(', ')}`);
        } else ctx.out.print(`  units: not known (${g.unitsNotKnown})`);
      }
    }
    return plan.hosts.every((h) => h.state === 'planned') ? 0 : 1;
  },
};
