// rebuild-smart: pull, dotfiles, secrets, (update), rebuild, checks, commit & push as one
// op with a live phase list; or, with `rollback`, back to what the last run started from.
// The phases live in agent/rebuildSmart/.
import { opParams } from '../../protocol';
import { runRebuildSmart } from '../rebuildSmart';
import { requireReadableState, requireSwitchMethod } from './common';
import type { OpDefinition } from './types';

export const rebuildSmartOp: OpDefinition<'rebuild-smart'> = {
  kind: 'rebuild-smart',
  effects: ['evaluates', 'builds', 'changes-host'],
  // It activates a new system, which may restart the agent: the op must outlive it.
  detached: true,
  params: opParams['rebuild-smart'],
  async validate(ctx) {
    requireSwitchMethod(ctx);
    requireReadableState(ctx);
  },
  // Checks run inside the op (its post-checks phase), so failures can roll back both the
  // commit and the generation and show up in the phase list.
  run: (ctx, params) => runRebuildSmart(ctx, params),
};
