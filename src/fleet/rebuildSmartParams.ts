// The params of a Rebuild Smart op started from VS Code: the nixfleet.rebuildSmart.* settings
// first, explicit command arguments over them. Validated here so a wrong type fails before
// anything reaches the host. The rules (protocol/rules.ts) are the agent's: checked here so the
// user hears of a contradiction before the host is asked.
import { opParams, REBUILD_SMART_FLAGS, REBUILD_SMART_PHASE_FLAGS, rebuildSmartConflict, type OpParams } from '../../protocol';

export interface RebuildSmartSettings {
  autoCommit: boolean;
  autoPush: boolean;
  updateBeforeRebuild: boolean;
  syncDotfiles: boolean;
  offlineMode: boolean;
}

export function rebuildSmartParams(settings: RebuildSmartSettings, args: Record<string, unknown>): OpParams<'rebuild-smart'> {
  const params: Record<string, boolean> = { autoCommit: settings.autoCommit, autoPush: settings.autoPush };
  // The phase settings are defaults for a rebuild; a rollback runs no phases.
  if (args.rollback !== true) {
    if (settings.updateBeforeRebuild) params.update = true;
    if (!settings.syncDotfiles) params.skipDotfiles = true;
    if (settings.offlineMode) params.offline = true;
  }
  for (const f of REBUILD_SMART_FLAGS) {
    const v = args[f];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') throw new Error(`Rebuild Smart: ${f} must be true or false, not ${JSON.stringify(v)}`);
    params[f] = v;
  }
  const conflict = rebuildSmartConflict(params);
  if (conflict === 'update-and-skip-update') throw new Error('Rebuild Smart: update and skipUpdate contradict each other; give one');
  if (conflict === 'rollback-with-phase-flags') {
    throw new Error(`Rebuild Smart: rollback restores the last run's commit and generation and takes no phase flags (${REBUILD_SMART_PHASE_FLAGS.join(', ')}); give only rollback (and dryRun)`);
  }
  if (params.update) delete params.skipUpdate;
  return opParams['rebuild-smart'].parse(params);
}
