import { gitRef, printable } from '../../../protocol';
import { commitArg, stringFlag, UsageError } from '../args';
import { describeHost, opCommand } from './opCommand';

export const pullCommand = opCommand({
  name: 'pull',
  kind: 'pull',
  summary: "fast-forward the host's nixcfg checkout to its upstream (or --ref), or bring it to --rev",
  flags: {
    ref: { type: 'string', value: 'REF', help: 'branch or tag to fast-forward to' },
    rev: { type: 'string', value: 'COMMIT', help: 'commit to bring the checkout to' },
  },
  mutating: true,
  activates: false,
  params: (ctx) => {
    const ref = stringFlag(ctx.flags, 'ref');
    const rev = stringFlag(ctx.flags, 'rev');
    if (ref !== undefined && rev !== undefined) throw new UsageError('pull: give --ref or --rev, not both');
    if (ref !== undefined && !gitRef.safeParse(ref).success) throw new UsageError(`pull: --ref "${printable(ref)}" is not a branch or tag name`);
    return { ...(ref === undefined ? {} : { ref }), ...(rev === undefined ? {} : { rev: commitArg('pull', 'rev', rev) }) };
  },
  review: async (_ctx, host, session, params) => ({
    question: `Update the checkout of ${await describeHost(host, session)} ${params.rev ? `to commit ${String(params.rev).slice(0, 12)}` : params.ref ? `to ${String(params.ref)}` : 'from its upstream'}?`,
  }),
});
