// Rebuild Smart is an agent op (agent/rebuildSmart): this starts it with the user's settings,
// streams its phases into the host's log, and offers the rollback it recorded on failure.
import * as vscode from 'vscode';
import type { OpInfo } from '../../protocol';
import { rebuildSmartParams } from '../fleet/rebuildSmartParams';
import { runOpWithProgress } from '../ui/opProgress';
import { asArgs, isProgrammatic, resolveHost } from '../ui/pickHost';
import { defineCommand } from './types';

export default defineCommand({
  id: 'nixfleet.rebuildSmart',
  title: 'Rebuild Smart',
  mutating: true,
  async run(c, arg) {
    const args = asArgs(arg);
    const host = await resolveHost(c, arg, { title: 'Rebuild Smart' });
    const cfg = vscode.workspace.getConfiguration('nixfleet.rebuildSmart');
    const params = rebuildSmartParams(
      {
        autoCommit: cfg.get<boolean>('autoCommit', true),
        autoPush: cfg.get<boolean>('autoPush', true),
        updateBeforeRebuild: cfg.get<boolean>('updateBeforeRebuild', false),
        syncDotfiles: cfg.get<boolean>('syncDotfiles', true),
        offlineMode: cfg.get<boolean>('offlineMode', false),
      },
      args,
    );
    const title = params.rollback ? 'Rebuild Smart rollback' : params.dryRun ? 'Rebuild Smart (dry run)' : 'Rebuild Smart';
    c.logs.show(host.name);
    const op: OpInfo = await runOpWithProgress(c, host.name, 'rebuild-smart', params, title, { quiet: true });
    if (op.state === 'succeeded') {
      void vscode.window.showInformationMessage(`${title} finished on ${host.name}${op.result?.generationAfter ? `: generation ${op.result.generationAfter}` : ''}${op.result?.message ? ` (${op.result.message})` : ''}`);
      return op;
    }
    if (isProgrammatic(arg) || params.rollback || params.dryRun) return op;
    const rollBack = 'Roll Back';
    const showLogs = 'Show Logs';
    const choice = await vscode.window.showErrorMessage(
      `${title} on ${host.name} ${op.state}: ${op.error ?? 'see the log'}`,
      ...(op.state === 'failed' ? [rollBack] : []),
      showLogs,
    );
    if (choice === showLogs) c.logs.show(host.name, false);
    if (choice === rollBack) {
      return runOpWithProgress(c, host.name, 'rebuild-smart', { rollback: true }, 'Rebuild Smart rollback');
    }
    return op;
  },
});
