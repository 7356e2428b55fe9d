// Checks shared by several ops, run in `validate` so a refused op changes nothing.
import type { OpContext } from './types';
import { OpError } from './types';
import { readMetadataCached, StateError } from '../state/metadata';
import { TOOL_PLATFORMS } from '../nix/rebuildTool';

/** The state file must be readable before an op that will write to it starts. */
export function requireReadableState(ctx: OpContext): void {
  try {
    readMetadataCached(ctx.config.stateDir);
  } catch (err) {
    if (err instanceof StateError) throw new OpError(`host ${ctx.config.host}: ${err.message}`);
    throw err;
  }
}

/** The configured switchMethod must be able to switch this platform. */
export function requireSwitchMethod(ctx: OpContext): void {
  const m = ctx.config.switchMethod;
  if (m !== 'direct' && !TOOL_PLATFORMS[m].includes(ctx.config.platform)) {
    throw new OpError(
      `host ${ctx.config.host}: switchMethod ${m} cannot switch a ${ctx.config.platform} host; set switchMethod to direct, nh or the ${ctx.config.platform} tool`,
    );
  }
}
