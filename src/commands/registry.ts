// The one list of commands. Adding a command = one file in this folder + one line here.
import * as vscode from 'vscode';
import type { Container } from '../container';
import { GitHubError } from '../github/errors';
import { CancelledByUser, isProgrammatic } from '../ui/pickHost';
import { requireTrust, UntrustedWorkspaceError } from '../ui/trust';
import type { CommandDefinition } from './types';

import addHost from './addHost';
import deploy from './deploy';
import deployRollback from './deployRollback';
import deploySummary from './deploySummary';
import cancelOp from './cancelOp';
import focus from './focus';
import forceRebuild from './forceRebuild';
import forceRebuildFromSource from './forceRebuildFromSource';
import pull from './pull';
import rebuildSmart from './rebuildSmart';
import refresh from './refresh';
import revertPr from './revertPr';
import rollback from './rollback';
import rollbackToGeneration from './rollbackToGeneration';
import runTests from './runTests';
import setAgentToken from './setAgentToken';
import setGitHubToken from './setGitHubToken';
import showLogs from './showLogs';
import switchCommand from './switch';
import updateAgent from './updateAgent';

export const COMMANDS: readonly CommandDefinition[] = [
  addHost,
  deploy,
  deployRollback,
  deploySummary,
  cancelOp,
  focus,
  forceRebuild,
  forceRebuildFromSource,
  pull,
  rebuildSmart,
  refresh,
  revertPr,
  rollback,
  rollbackToGeneration,
  runTests,
  setAgentToken,
  setGitHubToken,
  showLogs,
  switchCommand,
  updateAgent,
];

/**
 * Register every command with the shared wrapper: trust check for mutating commands, and
 * errors reported once. From the UI an error becomes a notification; from code (an argument
 * object) the returned promise rejects, so callers and tests see it.
 */
export function registerCommands(c: Container, commands: readonly CommandDefinition[] = COMMANDS): vscode.Disposable[] {
  return commands.map((def) =>
    vscode.commands.registerCommand(def.id, async (arg?: unknown, ...rest: unknown[]) => {
      const programmatic = isProgrammatic(arg);
      try {
        if (def.mutating) requireTrust(`NixFleet: ${def.title}`);
        return await def.run(c, arg, ...rest);
      } catch (err) {
        if (err instanceof CancelledByUser) return undefined;
        if (programmatic) throw err;
        const message = err instanceof Error ? err.message : String(err);
        // A way out one click away: trust the workspace, or store a GitHub token GitHub accepts.
        const action = err instanceof UntrustedWorkspaceError ? 'Manage Workspace Trust' : err instanceof GitHubError && err.kind === 'auth' ? 'Set GitHub Token' : undefined;
        // The trust refusal names the command already ("NixFleet: X is disabled ...").
        const text = err instanceof UntrustedWorkspaceError ? message : `NixFleet: ${def.title}: ${message}`;
        const choice = await vscode.window.showErrorMessage(text, ...(action ? [action] : []));
        if (choice === 'Manage Workspace Trust') void vscode.commands.executeCommand('workbench.trust.manage');
        if (choice === 'Set GitHub Token') void vscode.commands.executeCommand('nixfleet.setGitHubToken');
        return undefined;
      }
    }),
  );
}
