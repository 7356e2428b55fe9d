import * as vscode from 'vscode';
import { runOpWithProgress } from '../ui/opProgress';
import { resolveHost } from '../ui/pickHost';
import { defineCommand } from './types';

export default defineCommand({
  id: 'nixfleet.runTests',
  title: 'Run Tests',
  mutating: true,
  async run(c, arg) {
    const host = await resolveHost(c, arg, { title: 'Run Tests' });
    const op = await runOpWithProgress(c, host.name, 'test', {}, 'Health checks');
    if (op.state === 'succeeded') void vscode.window.showInformationMessage(`Health checks passed on ${host.name}`);
    return op;
  },
});
