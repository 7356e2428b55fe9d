// Phase 6: build and switch. nh when it is on PATH (it is what host owners run by hand),
// otherwise the agent's own switch for the platform.
import type { PhaseOutcome, RunState } from '../types';
import { which } from '../which';

export async function rebuild(run: RunState): Promise<PhaseOutcome> {
  const { steps, config, ctx } = run;
  const useNh = which('nh') !== undefined;
  const via = useNh ? 'nh' : config.switchMethod;
  if (steps.dryRun) {
    for (const argv of run.nix.describeSwitch(config, useNh)) await steps.change(argv);
    return { detail: `would switch ${config.host} with ${via}` };
  }
  run.after = await run.nix.switchConfiguration(ctx, useNh);
  if (run.before && run.after.path === run.before.path) {
    return { detail: `no change: generation ${run.after.generation} already is this configuration (${via})` };
  }
  return { detail: `generation ${run.before?.generation ?? 'none'} → ${run.after.generation} (${via})` };
}
