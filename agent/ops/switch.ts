// switch: build the host's configuration (optionally at `rev`), set the profile, activate,
// record the revision; the post-check runs the health checks for the new generation.
import { opParams, opResults } from '../../protocol';
import { givenFlags, REV_FLAG } from './cliFlags';
import { checkAndRecord, deployConfiguration } from '../nix/deploy';
import { systemBuildCommand } from '../nix/system';
import { requireReadableState, requireSwitchMethod } from './common';
import type { OpDefinition } from './types';

export const switchOp: OpDefinition<'switch'> = {
  kind: 'switch',
  effects: ['evaluates', 'builds', 'changes-host'],
  // Activation may restart the agent itself; the op must outlive it.
  detached: true,
  restartsAgent: false,
  params: opParams.switch,
  result: opResults.switch,
  cli: {
    summary: 'build the host configuration, set the profile, activate it and run the health checks',
    flags: { rev: REV_FLAG },
    toParams: (f) => givenFlags({ rev: f.rev }),
  },
  async validate(ctx) {
    requireSwitchMethod(ctx);
    requireReadableState(ctx);
  },
  // deployConfiguration's build, unless it checks out a revision or a rebuild tool builds.
  firstCommand: (config, params) => (params.rev === undefined && config.switchMethod === 'direct' ? systemBuildCommand(config) : undefined),
  run: (ctx, params) => deployConfiguration(ctx, { rev: params.rev }),
  postCheck: checkAndRecord,
};
