// The one list of commands, grouped by area (src/commands/<area>/<verb>.ts). Adding a command =
// one file + one line here; test/unit/commands-contributions.test.ts holds package.json's
// contributions to this list.
import * as vscode from 'vscode';
import type { Container } from '../container';
import { CancelledByUser } from '../editor/editor';
import { isProgrammatic } from '../flows/args';
import { showError } from '../flows/fixes';
import { requireTrust, UntrustedWorkspaceError } from '../ui/trust';
import type { CommandDefinition } from './types';

import deploy from './deploy/deploy';
import planDeploy from './deploy/planDeploy';
import revertPr from './deploy/revertPr';
import rollbackDeployedHosts from './deploy/rollbackDeployedHosts';
import showDeploySummary from './deploy/showDeploySummary';
import addHost from './fleet/addHost';
import focus from './fleet/focus';
import getStarted from './fleet/getStarted';
import refresh from './fleet/refresh';
import setGitHubToken from './github/setGitHubToken';
import cancelOp from './host/cancelOp';
import forceRebuild from './host/forceRebuild';
import forceRebuildFromSource from './host/forceRebuildFromSource';
import gc from './host/gc';
import pull from './host/pull';
import rebuildSmart from './host/rebuildSmart';
import rollback from './host/rollback';
import rollbackToGeneration from './host/rollbackToGeneration';
import runTests from './host/runTests';
import setAgentToken from './host/setAgentToken';
import setBrokerCredentials from './fleet/setBrokerCredentials';
import showLogs from './host/showLogs';
import switchCommand from './host/switch';
import updateAgent from './host/updateAgent';

export const COMMANDS: readonly CommandDefinition[] = [
  // host: ops and settings of one host
  forceRebuild,
  forceRebuildFromSource,
  switchCommand,
  rebuildSmart,
  rollback,
  rollbackToGeneration,
  runTests,
  pull,
  gc,
  updateAgent,
  cancelOp,
  showLogs,
  setAgentToken,
  // fleet: the host list and the view
  refresh,
  addHost,
  focus,
  getStarted,
  setBrokerCredentials,
  // deploy: rollouts to many hosts and their undo
  planDeploy,
  deploy,
  rollbackDeployedHosts,
  showDeploySummary,
  revertPr,
  // github
  setGitHubToken,
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
        // The trust refusal names the command already ("NixFleet: X is disabled ...").
        const text = err instanceof UntrustedWorkspaceError ? message : `NixFleet: ${def.title}: ${message}`;
        // With the command that fixes the cause as a button, when one does (flows/fixes.ts).
        await showError(c, text, err);
        return undefined;
      }
    }),
  );
}
