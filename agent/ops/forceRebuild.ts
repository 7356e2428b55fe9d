// force-rebuild: a switch that ignores cached "not in the binary cache" answers; with
// fromSource nothing is substituted at all. Runs detached: it may restart the agent.
import { opParams, opResults } from '../../protocol';
import { givenFlags, REV_FLAG } from './cliFlags';
import { checkAndRecord, deployConfiguration } from '../nix/deploy';
import { FORCE_OPTIONS, FROM_SOURCE_OPTIONS, systemBuildCommand } from '../nix/system';
import { requireReadableState, requireSwitchMethod } from './common';
import type { OpDefinition } from './types';

export function forceRebuildOptions(fromSource: boolean | undefined): string[] {
  return [...FORCE_OPTIONS, ...(fromSource ? FROM_SOURCE_OPTIONS : [])];
}

export const forceRebuildOp: OpDefinition<'force-rebuild'> = {
  kind: 'force-rebuild',
  effects: ['evaluates', 'builds', 'changes-host'],
  detached: true,
  // A new system may carry a new agent, which the service restarts into.
  restartsAgent: true,
  params: opParams['force-rebuild'],
  result: opResults['force-rebuild'],
  cli: {
    summary: 'switch, ignoring cached negative lookups (--from-source: no substitutes); survives an agent restart',
    flags: { 'from-source': { type: 'boolean', help: 'build everything locally (substitute = false)' }, rev: REV_FLAG },
    toParams: (f) => givenFlags({ fromSource: f['from-source'] === true ? true : undefined, rev: f.rev }),
  },
  async validate(ctx) {
    requireSwitchMethod(ctx);
    requireReadableState(ctx);
  },
  // deployConfiguration's build, unless it checks out a revision or a rebuild tool builds.
  firstCommand: (config, params) =>
    params.rev === undefined && config.switchMethod === 'direct' ? systemBuildCommand(config, { nixOptions: forceRebuildOptions(params.fromSource) }) : undefined,
  async run(ctx, params) {
    const result = await deployConfiguration(ctx, { rev: params.rev, nixOptions: forceRebuildOptions(params.fromSource) });
    return { ...result, agentVersionBefore: ctx.agentVersion, fromSource: params.fromSource === true };
  },
  postCheck: checkAndRecord,
};
