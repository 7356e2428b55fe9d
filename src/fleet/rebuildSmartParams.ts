// The params of a Rebuild Smart op started from VS Code: the nixfleet.rebuildSmart.* settings
// first, explicit command arguments over them. Validated here so a wrong type fails before
// anything reaches the host.
import { opParams, type OpParams } from '../../protocol';

const FLAGS = ['skipUpstream', 'skipDotfiles', 'skipUpdate', 'update', 'dryRun', 'offline', 'rollbackOnFailure', 'rollback', 'autoCommit', 'autoPush'] as const;

export interface RebuildSmartSettings {
  autoCommit: boolean;
  autoPush: boolean;
  updateBeforeRebuild: boolean;
  syncDotfiles: boolean;
  offlineMode: boolean;
}

export function rebuildSmartParams(settings: RebuildSmartSettings, args: Record<string, unknown>): OpParams<'rebuild-smart'> {
  const params: Record<string, boolean> = { autoCommit: settings.autoCommit, autoPush: settings.autoPush };
  if (settings.updateBeforeRebuild) params.update = true;
  if (!settings.syncDotfiles) params.skipDotfiles = true;
  if (settings.offlineMode) params.offline = true;
  for (const f of FLAGS) {
    const v = args[f];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') throw new Error(`Rebuild Smart: ${f} must be true or false, not ${JSON.stringify(v)}`);
    params[f] = v;
  }
  if (params.update && params.skipUpdate) throw new Error('Rebuild Smart: update and skipUpdate contradict each other; give one');
  if (params.update) delete params.skipUpdate;
  return opParams['rebuild-smart'].parse(params);
}
