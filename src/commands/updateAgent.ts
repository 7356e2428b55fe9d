import * as vscode from 'vscode';
import { runOpWithProgress } from '../ui/opProgress';
import { asArgs, resolveHost } from '../ui/pickHost';
import { defineCommand } from './types';

export default defineCommand({
  id: 'nixfleet.updateAgent',
  title: 'Update Agent',
  mutating: true,
  async run(c, arg) {
    const { dryRun } = asArgs(arg);
    const host = await resolveHost(c, arg, { title: 'Update Agent' });
    const op = await runOpWithProgress(c, host.name, 'self-update', { verify: true, ...(dryRun === true ? { dryRun: true } : {}) }, 'Update agent');
    if (op.state === 'succeeded') {
      const { agentVersionBefore: before, agentVersionAfter: after } = op.result ?? {};
      void vscode.window.showInformationMessage(
        dryRun ? `Agent update on ${host.name}: dry run done, see the log` : `Agent on ${host.name} updated${before || after ? ` from ${before ?? '?'} to ${after ?? '?'}` : ''}`,
      );
    }
    return op;
  },
});
