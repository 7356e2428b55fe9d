// Shared shape of the commands that just run one op on one host (Force Rebuild, Run Tests...).
import * as vscode from 'vscode';
import type { OpInfo, OpKind } from '../../protocol';
import type { Container } from '../container';
import { runOpWithProgress } from '../ui/opProgress';
import { resolveHost } from '../ui/pickHost';
import { defineCommand, type CommandDefinition } from './types';

export function opCommand(opts: {
  id: string;
  title: string;
  kind: OpKind;
  params: (c: Container, arg: unknown) => Record<string, unknown>;
  /** Message after success, from the final op. */
  done?: (host: string, op: OpInfo) => string;
  /** Activates a new generation: ask for magic rollback when the setting is on. */
  activates?: boolean;
}): CommandDefinition {
  return defineCommand({
    id: opts.id,
    title: opts.title,
    mutating: true,
    async run(c, arg) {
      const host = await resolveHost(c, arg, { title: opts.title });
      const magicRollback = opts.activates && vscode.workspace.getConfiguration('nixfleet').get<boolean>('magicRollback', true);
      const op = await runOpWithProgress(c, host.name, opts.kind, opts.params(c, arg), opts.title, { magicRollback });
      if (op.state === 'succeeded' && opts.done) void vscode.window.showInformationMessage(opts.done(host.name, op));
      return op;
    },
  });
}
