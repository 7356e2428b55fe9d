// Everything commands and views need, built once in activate() and handed to them: the
// fleet, the per-host logs, the token store, the editor seam and settings, the deploy service,
// GitHub access and the workspace's facts. It is the flows' FlowContext (src/flows/context.ts).
import { hostname, userInfo } from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import { clientNameOf } from '../protocol';
import { fleetAgents } from './deploy/fleetAgents';
import { DeployService } from './deploy/service';
import type { DeployRecord } from './deploy/types';
import type { Editor } from './editor/editor';
import { vscodeEditor } from './editor/vscodeEditor';
import type { FlowContext } from './flows/context';
import { brokerOfflineQueue } from './broker/deployQueue';
import { BROKER_SOURCE, BrokerDiscovery, openFleetSession } from './broker/discoverySource';
import { Fleet } from './fleet/fleet';
import { FleetStartup, type DiscoveryTarget } from './fleet/fleetStartup';
import { BROKER_ADDRESS, parseHostsSetting, type HostEntry } from './fleet/hostConfig';
import { readWorkspaceInfo } from './fleet/workspace';
import { Settings } from './settings';
import { HostLogs } from './ui/hostLogs';
import { TokenStore } from './ui/secrets';
import { VsCodeWorkspaceGitHub } from './ui/workspaceGitHub';

/** What the container keeps of the deploy summary webview (src/views/deploySummary.ts). */
export interface SummaryPanel {
  reveal(): void;
  setRecord(record: DeployRecord | undefined): void;
}

export class Container implements vscode.Disposable, FlowContext {
  readonly fleet: Fleet;
  readonly logs: HostLogs;
  readonly tokens: TokenStore;
  readonly editor: Editor = vscodeEditor;
  readonly settings = new Settings(vscodeEditor);
  readonly github: VsCodeWorkspaceGitHub;
  /** The deploy summary webview while it is open (views/deploySummary.ts fills this slot). */
  deploySummary: SummaryPanel | undefined;
  private deployService: DeployService | undefined;
  private readonly startup: FleetStartup;
  /** The nixfleet.broker connection and its status bucket, once started (see startBroker). */
  private broker: BrokerDiscovery | undefined;
  /** Broker (re)starts run one after the other (a credentials change during a start). */
  private brokerRestart: Promise<void> = Promise.resolve();
  private fleetStarting = false;
  /** The servers and credentials the current broker connection was made with. */
  private brokerKey: string | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(readonly context: vscode.ExtensionContext) {
    this.tokens = new TokenStore(context.secrets);
    const version = String(context.extension.packageJSON.version ?? '0.0.0');
    this.fleet = new Fleet({
      openSession: (entry, endpoint, token) => openFleetSession({ entry, endpoint, token, clientName: clientName(), clientVersion: version, broker: () => this.broker }),
      getToken: (host) => this.tokens.getAgentToken(host),
    });
    this.logs = new HostLogs(this.fleet);
    this.github = new VsCodeWorkspaceGitHub(context.secrets, this.settings, () => this.workspaceDir);
    this.disposables.push(
      this.logs,
      this.tokens.onDidChange((host) => {
        if (host !== 'github') void this.fleet.reconnect(host);
      }),
      this.tokens.onDidChangeBrokerCredentials(() => void this.restartBroker()),
      { dispose: () => void this.broker?.close() },
    );
    // Last session's hosts and the settings' are read here (cheap, nothing spawned): the tree
    // lists them the moment it opens; the flake's hosts merge in as its evaluation answers.
    this.startup = new FleetStartup({
      fleet: this.fleet,
      settingsHosts: () => parseHostsSetting(this.settings.hosts),
      discoveryTarget: () => this.discoveryTarget(),
      readWorkspace: () => this.readWorkspace(),
      memory: context.workspaceState,
    });
  }

  get workspaceDir(): string | undefined {
    return vscode.workspace.workspaceFolders?.[0]?.uri.scheme === 'file' ? vscode.workspace.workspaceFolders[0]!.uri.fsPath : undefined;
  }

  /** The deploys: the current or last one, its events, the audit log (in globalStorage), the undo actions. */
  get deploys(): DeployService {
    this.deployService ??= new DeployService({ agents: fleetAgents(this.fleet, brokerOfflineQueue(() => this.broker, clientName())), auditFile: path.join(this.context.globalStorageUri.fsPath, 'deploy-audit.jsonl') });
    return this.deployService;
  }

  get trusted(): boolean {
    return vscode.workspace.isTrusted;
  }

  /** Re-read `nixfleet.hosts`. */
  loadHosts(): void {
    this.startup.loadSettings();
  }

  /**
   * First use (view shown or a command run): connect to the agents, discover the flake's hosts
   * and read the workspace, side by side. Idempotent; resolves when all three are done.
   */
  ensureStarted(): Promise<void> {
    if (!this.fleetStarting) {
      this.fleetStarting = true;
      void this.restartBroker();
    }
    return this.startup.start();
  }

  /** The broker's hosts as one source of the fleet's list (merged by the host registry), with its problem. */
  private loadBrokerHosts(): void {
    const problems = [this.brokerSettingError(), this.broker?.problem].filter((p): p is string => p !== undefined);
    this.fleet.setSource(BROKER_SOURCE, this.broker?.sourceHosts() ?? [], problems);
  }

  /**
   * Connect to nixfleet.broker (if set) with the stored operator credentials and watch its
   * status bucket: its hosts join the list, their rows follow the bucket. Called when the
   * fleet starts, and again when the setting or the credentials change.
   */
  restartBroker(): Promise<void> {
    // One failed start (SecretStorage unavailable, say) must not block the ones after it.
    this.brokerRestart = this.brokerRestart.catch(() => undefined).then(() => this.startBroker());
    return this.brokerRestart;
  }

  /** After the last (re)start: the broker's first connection attempt is over; its problem, if any. */
  async brokerSettled(): Promise<string | undefined> {
    await this.brokerRestart;
    await this.broker?.start();
    return this.broker?.problem ?? this.brokerSettingError();
  }

  private brokerSettingError(): string | undefined {
    try {
      void this.settings.broker;
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  private async startBroker(): Promise<void> {
    const servers = this.brokerSettingError() ? [] : this.settings.broker;
    const credentials = servers.length ? await this.tokens.getBrokerCredentials() : undefined;
    // The same broker and credentials, connected: nothing to do (the secret's change event
    // and the command that stored it both ask).
    const key = JSON.stringify([servers, credentials ?? null]);
    if (this.broker && this.brokerKey === key && !this.broker.problem) return;
    const old = this.broker;
    this.broker = undefined;
    await old?.close();
    if (servers.length && this.fleetStarting) {
      this.brokerKey = key;
      const broker = new BrokerDiscovery({
        servers,
        credentials,
        clientName: clientName(),
        onHostsChanged: () => {
          if (this.broker === broker) this.loadBrokerHosts();
        },
        onRecord: (host, r) => {
          if (this.broker === broker) this.fleet.recorded(host, r);
        },
      });
      this.broker = broker;
      // Not awaited: a broker that does not answer must not hold up the hosts reached directly.
      void broker.start();
    }
    this.loadBrokerHosts();
    // Sessions of broker hosts attempted through the old connection (or none) start afresh.
    for (const h of this.fleet.configuredHosts()) if (h.entry?.address === BROKER_ADDRESS) void this.fleet.reconnect(h.name);
  }

  async readWorkspace(): Promise<void> {
    const dir = this.workspaceDir;
    this.fleet.setWorkspace(dir ? await readWorkspaceInfo(dir).catch(() => undefined) : undefined);
  }

  /** Evaluate the workspace flake's host names again (flake.nix changed, Refresh). */
  rediscover(): Promise<void> {
    return this.startup.rediscover();
  }

  /** The flake to evaluate: only in a trusted workspace (it runs Nix code) with discovery on. */
  private async discoveryTarget(): Promise<DiscoveryTarget> {
    const dir = this.workspaceDir;
    // A bad setting value is shown with the hosts' problems, like any discovery error.
    if (!this.settings.discoverFromFlake || !dir || !this.trusted) return {};
    const hasFlake = await vscode.workspace.fs.stat(vscode.Uri.joinPath(vscode.Uri.file(dir), 'flake.nix')).then(() => true, () => false);
    return hasFlake ? { dir } : {};
  }

  /** Write `nixfleet.hosts` with `entry` added (or replacing the entry of the same name). */
  async saveHostEntry(entry: HostEntry): Promise<void> {
    const config = vscode.workspace.getConfiguration('nixfleet');
    const inspect = config.inspect<unknown[]>('hosts');
    const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
    const current = (target === vscode.ConfigurationTarget.Workspace ? inspect?.workspaceValue : inspect?.globalValue) ?? [];
    const list = (Array.isArray(current) ? current : []).filter((h) => !(h && typeof h === 'object' && (h as { name?: unknown }).name === entry.name));
    list.push(Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== undefined)));
    await config.update('hosts', list, target);
    this.loadHosts();
  }

  dispose(): void {
    this.startup.dispose();
    this.fleet.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

/** "vscode alice@laptop": how the agent's audit log names this controller. */
function clientName(): string {
  let user = 'user';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep "user"
  }
  return clientNameOf(`vscode ${user}@${hostname()}`);
}
