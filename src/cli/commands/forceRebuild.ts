import { commitArg, stringFlag } from '../args';
import { describeHost, opCommand } from './opCommand';

export const forceRebuildCommand = opCommand({
  name: 'force-rebuild',
  kind: 'force-rebuild',
  summary: 'switch, ignoring cached "not in the binary cache" answers (--from-source: build everything locally)',
  details: 'The op runs detached on the host: it keeps running, and this command keeps printing it, across the agent\'s own restart.',
  flags: {
    'from-source': { type: 'boolean', help: 'no substitutes: build every derivation on the host' },
    rev: { type: 'string', value: 'COMMIT', help: 'bring the checkout to this commit first' },
  },
  mutating: true,
  activates: true,
  params: (ctx) => {
    const rev = stringFlag(ctx.flags, 'rev');
    return {
      ...(ctx.flags['from-source'] === true ? { fromSource: true } : {}),
      ...(rev === undefined ? {} : { rev: commitArg('force-rebuild', 'rev', rev) }),
    };
  },
  review: async (_ctx, host, session, params) => ({
    question: `Force-rebuild ${await describeHost(host, session)}${params.fromSource ? ' from source (no substitutes)' : ''}${params.rev ? ` at commit ${String(params.rev).slice(0, 12)}` : ''}?`,
  }),
});
