// rollback: to the previous generation or to `to`. Refused (before anything changes) when
// the target does not exist, was garbage-collected, is already current, or is older than
// OLD_GENERATION_DAYS (protocol/rules.ts) without confirmOld. Then: profile, activation, health checks.
import { existsSync } from 'node:fs';
import { generationAgeDays, isOldGeneration, OLD_GENERATION_DAYS, opParams, opResults, parseGeneration, type OpParams } from '../../protocol';
import { givenFlags } from './cliFlags';
import { checkAndRecord } from '../nix/deploy';
import { readProfile, type ProfileLink } from '../nix/profile';
import { activateOrRestore, switchProfileGeneration } from '../nix/system';
import { readMetadata } from '../state/metadata';
import { requireReadableState } from './common';
import type { OpContext, OpDefinition } from './types';
import { OpError } from './types';


export interface RollbackPlan {
  from: ProfileLink;
  to: ProfileLink;
}

/** Decide the target generation, or refuse with what to do instead. */
export function planRollback(ctx: Pick<OpContext, 'config'>, params: OpParams<'rollback'>, now = Date.now()): RollbackPlan {
  const { host, profile } = ctx.config;
  const { links, current } = readProfile(profile);
  const from = links.find((l) => l.generation === current);
  if (!from) throw new OpError(`host ${host}: the profile ${profile} has no current generation, so there is nothing to roll back from; switch first`);
  let to: ProfileLink | undefined;
  if (params.to === undefined) {
    to = links.filter((l) => l.generation < from.generation).at(-1);
    if (!to) throw new OpError(`host ${host}: generation ${from.generation} is the oldest generation; there is no previous one to roll back to`);
  } else {
    to = links.find((l) => l.generation === params.to);
    if (!to) {
      const known = links.map((l) => l.generation);
      const range = known.length ? `${known[0]}-${known.at(-1)}` : 'none';
      throw new OpError(`host ${host}: generation ${params.to} does not exist (it was deleted or never existed; generations: ${range}); list the generations and pick one of them`);
    }
    if (to.generation === from.generation) {
      throw new OpError(`host ${host}: generation ${to.generation} is already the current generation; pick another one to roll back to`);
    }
  }
  if (!existsSync(to.target)) {
    const rev = readMetadata(ctx.config.stateDir).revisions[to.target]?.revision;
    throw new OpError(
      `host ${host}: generation ${to.generation} was garbage-collected (${to.target} is gone), so it cannot be rolled back to; ` +
        (rev ? `rebuild it with a switch to revision ${rev}` : 'rebuild its configuration with a switch instead'),
    );
  }
  if (isOldGeneration(to.mtimeMs, now) && !params.confirmOld) {
    const ageDays = generationAgeDays(to.mtimeMs, now);
    throw new OpError(
      `host ${host}: generation ${to.generation} is from ${new Date(to.mtimeMs).toISOString().slice(0, 10)}, ${Math.floor(ageDays)} days old (more than ${OLD_GENERATION_DAYS}); confirm the rollback to it explicitly (confirmOld, CLI --yes)`,
    );
  }
  return { from, to };
}

export const rollbackOp: OpDefinition<'rollback'> = {
  kind: 'rollback',
  effects: ['changes-host'],
  detached: true,
  restartsAgent: false,
  params: opParams.rollback,
  result: opResults.rollback,
  cli: {
    summary: 'activate the previous generation, or generation N',
    flags: {
      to: { type: 'string', value: 'N', help: 'generation number to roll back to' },
      yes: { type: 'boolean', help: `confirm a target older than ${OLD_GENERATION_DAYS} days` },
    },
    toParams: (f) => givenFlags({ to: typeof f.to === 'string' ? parseGeneration(f.to) : undefined, confirmOld: f.yes === true ? true : undefined }),
  },
  async validate(ctx, params) {
    requireReadableState(ctx);
    planRollback(ctx, params);
  },
  async run(ctx, params) {
    // Planned again: the profile may have changed between validate and run.
    const { from, to } = planRollback(ctx, params);
    ctx.log('info', `host ${ctx.config.host}: rolling back from generation ${from.generation} to ${to.generation} (${to.target})`);
    await switchProfileGeneration(ctx, to.generation);
    await activateOrRestore(ctx, to, from);
    const revision = readMetadata(ctx.config.stateDir).revisions[to.target]?.revision;
    return {
      generationBefore: from.generation,
      generationAfter: to.generation,
      storePath: to.target,
      ...(revision ? { revision } : {}),
      message: `host ${ctx.config.host}: rolled back from generation ${from.generation} to ${to.generation}`,
    };
  },
  postCheck: checkAndRecord,
};
