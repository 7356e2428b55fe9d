// Workspace trust: in an untrusted workspace nothing may change a host. Mutating commands say
// so (and how to trust) instead of running.
import * as vscode from 'vscode';
import { FIXES, FixableError } from '../flows/fixes';

export class UntrustedWorkspaceError extends FixableError {
  override name = 'UntrustedWorkspaceError';
  constructor(message: string) {
    super(message, FIXES.trust);
  }
}

export function requireTrust(what: string): void {
  if (vscode.workspace.isTrusted) return;
  throw new UntrustedWorkspaceError(
    `${what} is disabled in an untrusted workspace: it changes hosts using this workspace's settings and flake. Trust the workspace (command "Workspaces: Manage Workspace Trust") to enable it.`,
  );
}
