import { commitArg, stringFlag } from '../args';
import { describeHost, opCommand } from './opCommand';

export const switchCommand = opCommand({
  name: 'switch',
  kind: 'switch',
  summary: "build the host's configuration from its checkout (or --rev), set the profile, activate, run the health checks",
  flags: { rev: { type: 'string', value: 'COMMIT', help: 'bring the checkout to this commit first (it must be in the host\'s origin)' } },
  mutating: true,
  activates: true,
  params: (ctx) => {
    const rev = stringFlag(ctx.flags, 'rev');
    return rev === undefined ? {} : { rev: commitArg('switch', 'rev', rev) };
  },
  review: async (_ctx, host, session, params) => ({
    question: `Switch ${await describeHost(host, session)} to ${params.rev ? `commit ${String(params.rev).slice(0, 12)}` : "its checkout's configuration"}?`,
  }),
});
