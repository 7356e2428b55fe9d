// test: run the health checks and record the outcome for the current generation.
import { opParams, opResults } from '../../protocol';
import { checkAndRecord } from '../nix/deploy';
import { currentGeneration } from '../nix/profile';
import { readMetadata } from '../state/metadata';
import { requireReadableState } from './common';
import type { OpDefinition } from './types';
import { OpError } from './types';

export const testOp: OpDefinition<'test'> = {
  kind: 'test',
  // It runs the configured health checks and records their outcome.
  effects: ['changes-host'],
  detached: false,
  restartsAgent: false,
  params: opParams.test,
  result: opResults.test,
  cli: {
    summary: 'run the health checks and record the result for the current generation',
    flags: {},
    toParams: () => ({}),
  },
  async validate(ctx) {
    requireReadableState(ctx);
    if (!currentGeneration(ctx.config.profile)) {
      throw new OpError(`host ${ctx.config.host}: the profile ${ctx.config.profile} has no generation to test; switch first`);
    }
  },
  async run(ctx) {
    const current = currentGeneration(ctx.config.profile);
    if (!current) throw new OpError(`host ${ctx.config.host}: the profile ${ctx.config.profile} has no generation to test; switch first`);
    const revision = readMetadata(ctx.config.stateDir).revisions[current.target]?.revision;
    return {
      generationBefore: current.generation,
      generationAfter: current.generation,
      storePath: current.target,
      ...(revision ? { revision } : {}),
      message: `host ${ctx.config.host}: tested generation ${current.generation}`,
    };
  },
  postCheck: checkAndRecord,
};
