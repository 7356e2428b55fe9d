// build: build the configuration (optionally at `rev`, without touching the checkout) and
// build: build the configuration (optionally at `rev`, without touching the checkout) and
// say what switching to it would change against the current generation: the plan step of
// every deploy (protocol/results.ts, the `build` result with its `plan`). Activates nothing,
// but it runs the flake's code and fills the store: a controller's op, under the host lock like any.
import { opParams, opResults } from '../../protocol';
import { givenFlags, REV_FLAG } from './cliFlags';
import { resolveRevision } from '../git/sync';
import { buildCheckout, gitContext } from '../nix/deploy';
import { currentGeneration } from '../nix/profile';
import { buildSystem, closureDiff, flakeRef, systemBuildCommand } from '../nix/system';
import { planSwitch } from '../nix/plan';
import { formatBytes, type BuildResult } from '../../protocol';
import { existsSync } from 'node:fs';
import type { OpDefinition } from './types';

export const buildOp: OpDefinition<'build'> = {
  kind: 'build',
  effects: ['evaluates', 'builds'],
  detached: false,
  restartsAgent: false,
  params: opParams.build,
  result: opResults.build,
  cli: {
    summary: 'build the configuration without activating it and show the closure diff',
    flags: { rev: REV_FLAG },
    toParams: (f) => givenFlags({ rev: f.rev }),
  },
  // buildCheckout's build, when no revision is asked for.
  firstCommand: (config, params) => (params.rev === undefined ? systemBuildCommand(config) : undefined),
  async run(ctx, params) {
    const { config } = ctx;
    let revision: string;
    let storePath: string;
    if (params.rev !== undefined) {
      revision = await resolveRevision(gitContext(ctx), config.flake, params.rev);
      storePath = await buildSystem(ctx, { ref: flakeRef(config.flake, revision) });
    } else {
      ({ storePath, revision } = await buildCheckout(ctx));
    }
    const current = currentGeneration(config.profile);
    let diff: string[] = [];
    if (current && existsSync(current.target)) {
      diff = await closureDiff(ctx, current.target, storePath);
      for (const line of diff) ctx.log('info', `closure diff: ${line}`);
    }
    const same = current?.target === storePath;
    const plan = await planSwitch(ctx, storePath, current && existsSync(current.target) ? current.target : undefined, diff);
    const a = plan.activation;
    if (!same) {
      ctx.log('info', `plan: ${plan.packages.length} package change(s), closure ${plan.closureBytesChange !== undefined ? `${plan.closureBytesChange >= 0 ? '+' : ''}${formatBytes(plan.closureBytesChange)}` : formatBytes(plan.closureBytes)}`);
      ctx.log('info', a.known ? `plan: units to stop ${a.units.stop.length}, restart ${a.units.restart.length}, reload ${a.units.reload.length}, start ${a.units.start.length}` : `plan: activation not known (${a.reason})`);
    }
    const result: BuildResult = {
      storePath,
      revision,
      ...(current ? { generationBefore: current.generation } : {}),
      closureDiff: diff,
      plan,
      message: same
        ? `host ${config.host}: revision ${revision.slice(0, 12)} builds the current generation ${current.generation}; nothing would change`
        : current
          ? `host ${config.host}: built ${storePath}; ${diff.length} closure change(s) against generation ${current.generation}`
          : `host ${config.host}: built ${storePath}; there is no current generation to compare with`,
    };
    return result;
  },
};
