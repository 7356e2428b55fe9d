// The way out of an error, one click away: which command fixes it, chosen by the error's class
// and code (never its message text). Every error notification of the extension goes through
// `showError`, so an error that has a fixing command always offers it as a button.
import { AgentRequestError } from '../fleet/session';
import { GitHubError } from '../github/errors';
import type { FlowContext } from './context';

/** A button that runs a command which fixes the error's cause. */
export interface Fix {
  label: string;
  command: string;
  args?: unknown[];
}

export const FIXES = {
  agentToken: (host?: string): Fix => ({ label: 'Set Agent Token', command: 'nixfleet.setAgentToken', args: host ? [{ host, treeNode: true }] : [] }),
  githubToken: { label: 'Set GitHub Token', command: 'nixfleet.setGitHubToken' } as Fix,
  trust: { label: 'Manage Workspace Trust', command: 'workbench.trust.manage' } as Fix,
  addHost: (host?: string): Fix => ({ label: 'Add Host', command: 'nixfleet.addHost', args: host ? [{ host, treeNode: true }] : [] }),
};

/** An error whose cause a command fixes (a host not configured, an untrusted workspace). */
export class FixableError extends Error {
  override name = 'FixableError';
  constructor(
    message: string,
    readonly fix: Fix,
  ) {
    super(message);
  }
}

/** The command that fixes `err`, if one does. */
export function fixFor(err: unknown): Fix | undefined {
  if (err instanceof FixableError) return err.fix;
  if (err instanceof GitHubError && err.kind === 'auth') return FIXES.githubToken;
  if (err instanceof AgentRequestError && err.code === 'unauthorized') return FIXES.agentToken(err.host);
  return undefined;
}

/**
 * `text` as an error notification with the fixing command's button (when `err` has one) before
 * `actions`; runs the fix when it is clicked. Resolves with the action chosen (the fix's label
 * included).
 */
export async function showError(c: Pick<FlowContext, 'editor'>, text: string, err: unknown, ...actions: string[]): Promise<string | undefined> {
  const fix = fixFor(err);
  const choice = await c.editor.showErrorMessage(text, ...(fix ? [fix.label] : []), ...actions);
  if (fix && choice === fix.label) void c.editor.executeCommand(fix.command, ...(fix.args ?? []));
  return choice;
}
