// What a flow (a command's dialogue with the user around one or more ops) is handed: the
// fleet, the editor seam, the settings, the host logs, the deploy service and GitHub access.
// The extension's Container provides it; tests provide it with a scripted editor and real
// agents. No vscode import: flows run under node:test.
import type { DeployService } from '../deploy/service';
import type { Editor } from '../editor/editor';
import type { Fleet } from '../fleet/fleet';
import type { GitHubRepo, createGitHubClient } from '../github/client';
import type { Settings } from '../settings';

export interface GitHubAccess {
  octokit: ReturnType<typeof createGitHubClient>;
  repo: GitHubRepo;
  login: string;
}

export interface WorkspaceGitHub {
  /** Octokit for the workspace repo with the user's token (asking for it when interactive); undefined when origin is not on GitHub. */
  access(interactive: boolean, opts?: { timeoutMs?: number }): Promise<GitHubAccess | undefined>;
  /** Who acts, for the deploy audit log: the GitHub login when a token is at hand, else user@machine. */
  whoAmI(): Promise<string>;
}

export interface FlowContext {
  readonly fleet: Fleet;
  readonly editor: Editor;
  readonly settings: Settings;
  /** The per-host log channels: `show` reveals one, its recent history first (ui/hostLogs.ts). */
  readonly logs: { show(host: string, preserveFocus?: boolean): Promise<unknown> | void };
  /** The workspace folder (the nixcfg clone), when it is a local folder. */
  readonly workspaceDir: string | undefined;
  /** Reads the workspace and connects to the agents, once (first command or view). */
  ensureStarted(): Promise<void>;
  readonly deploys: DeployService;
  readonly github: WorkspaceGitHub;
}
