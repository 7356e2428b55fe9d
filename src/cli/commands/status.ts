import { agentRow, gitRow, systemRow, testsRow } from '../../fleet/statusRows';
import { hostArg } from '../args';
import type { Command } from '../command';

export const statusCommand: Command = {
  name: 'status',
  summary: "show one host: agent, checkout, generation and its source commit, last health checks, running op",
  details: 'With --json: the agent\'s HostStatus object (protocol/messages.ts).',
  positionals: ['HOST'],
  flags: {},
  mutating: false,
  async run(ctx) {
    const host = ctx.knownHost(hostArg('status', ctx.positionals[0]));
    const status = await (await ctx.connections().online(host)).status();
    if (ctx.json) {
      ctx.out.json(status);
      return 0;
    }
    // The rows the Fleet view shows under a host, from the same code.
    const snapshot = { name: host, platform: status.platform, connection: 'online' as const, status, runningOps: [] };
    const rows = [agentRow(snapshot), gitRow(snapshot), systemRow(snapshot), testsRow(snapshot)].filter((r) => r !== undefined);
    ctx.out.print(`${host} (${status.platform}, Nix ${status.nixVersion}, switch method ${status.switchMethod})`);
    for (const r of rows) ctx.out.print(`  ${r.label.padEnd(8)}${r.value}`);
    ctx.out.print(`  ${'Op'.padEnd(8)}${status.busy ? `${status.busy.kind} ${status.busy.op} since ${status.busy.since}` : 'none running'}`);
    return 0;
  },
};
