// Rebuild Smart is an agent op (agent/rebuildSmart): this starts it with the user's settings,
// streams its phases into the host's log, and, after a failure started from the UI, offers
// the rollback the agent recorded (Roll Back) and the log.
import type { OpInfo } from '../../protocol';
import { rebuildSmartParams } from '../fleet/rebuildSmartParams';
import { asArgs, isProgrammatic } from './args';
import type { FlowContext } from './context';
import { runOpWithProgress } from './opProgress';
import { resolveHost } from './pickHost';

export async function rebuildSmartFlow(c: FlowContext, arg: unknown): Promise<OpInfo> {
  const args = asArgs(arg);
  const host = await resolveHost(c, arg, { title: 'Rebuild Smart' });
  const params = rebuildSmartParams(c.settings.rebuildSmart, args);
  const title = params.rollback ? 'Rebuild Smart rollback' : params.dryRun ? 'Rebuild Smart (dry run)' : 'Rebuild Smart';
  c.logs.show(host.name);
  const op = await runOpWithProgress(c, host.name, 'rebuild-smart', params, title, { quiet: true });
  if (op.state === 'succeeded') {
    void c.editor.showInformationMessage(`${title} finished on ${host.name}${op.result?.generationAfter ? `: generation ${op.result.generationAfter}` : ''}${op.result?.message ? ` (${op.result.message})` : ''}`);
    return op;
  }
  if (isProgrammatic(arg) || params.rollback || params.dryRun) return op;
  const rollBack = 'Roll Back';
  const showLogs = 'Show Logs';
  const choice = await c.editor.showErrorMessage(
    `${title} on ${host.name} ${op.state}: ${op.error ?? 'see the log'}`,
    ...(op.state === 'failed' ? [rollBack] : []),
    showLogs,
  );
  if (choice === showLogs) c.logs.show(host.name, false);
  if (choice === rollBack) {
    return runOpWithProgress(c, host.name, 'rebuild-smart', { rollback: true }, 'Rebuild Smart rollback');
  }
  return op;
}
