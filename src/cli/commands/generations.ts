import { marks, newestFirst, testsText } from '../../fleet/generations';
import { formatTime, shortRev } from '../../fleet/statusRows';
import { hostArg } from '../args';
import type { Command } from '../command';

export const generationsCommand: Command = {
  name: 'generations',
  summary: "list the host's generations, newest first, with commit, tests and marks",
  details: 'With --json: the agent\'s Generation objects, oldest first, as the agent sends them.',
  positionals: ['HOST'],
  flags: {},
  mutating: false,
  async run(ctx) {
    const host = ctx.knownHost(hostArg('generations', ctx.positionals[0]));
    const gens = await (await ctx.connections().online(host)).generations();
    if (ctx.json) {
      ctx.out.json(gens);
      return 0;
    }
    ctx.out.table(
      ['GEN', 'CREATED', 'COMMIT', 'TESTS', 'MARKS'],
      newestFirst(gens).map((g) => [String(g.generation), formatTime(g.createdAt), g.revision ? shortRev(g.revision) : '-', testsText(g), marks(g).join(', ') || '-']),
    );
    return 0;
  },
};
