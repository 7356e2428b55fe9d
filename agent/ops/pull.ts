// pull: update the host's nixcfg checkout (fast-forward only, or to a given commit).
import { opParams, opResults } from '../../protocol';
import { givenFlags, REV_FLAG } from './cliFlags';
import { pullCheckout } from '../git/sync';
import { gitContext } from '../nix/deploy';
import type { OpDefinition } from './types';

export const pullOp: OpDefinition<'pull'> = {
  kind: 'pull',
  effects: ['changes-host'],
  detached: false,
  restartsAgent: false,
  params: opParams.pull,
  result: opResults.pull,
  cli: {
    summary: 'update the nixcfg checkout from its upstream (or --ref), or bring it to --rev',
    flags: { ref: { type: 'string', value: 'REF', help: 'branch or tag to fast-forward to' }, rev: { ...REV_FLAG, help: 'commit to bring the checkout to' } },
    toParams: (f) => givenFlags({ ref: f.ref, rev: f.rev }),
  },
  async run(ctx, params) {
    const r = await pullCheckout(gitContext(ctx), ctx.config.flake, { ref: params.ref, rev: params.rev });
    return {
      revision: r.after,
      revisionBefore: r.before,
      ...(r.branch ? { branch: r.branch } : {}),
      changed: r.changed,
      message: r.changed
        ? `host ${ctx.config.host}: checkout moved from ${r.before.slice(0, 12)} to ${r.after.slice(0, 12)}`
        : `host ${ctx.config.host}: checkout already at ${r.after.slice(0, 12)}`,
    };
  },
};
