// Activation stays cheap: it reads settings and registers the view, the commands and the
// status bar item. Nix evaluation, git and agent connections start when the view is first
// shown or a command runs (Container.ensureStarted).
import * as vscode from 'vscode';
import { registerCommands } from './commands/registry';
import { Container } from './container';
import { fleetContextKeys } from './ui/contextKeys';
import { StatusBar } from './ui/statusBar';
import { FleetTreeProvider } from './views/fleetTreeProvider';

/** What activate() returns: for other parts of the extension and for tests in the extension host. */
export interface NixFleetApi {
  container: Container;
  tree: FleetTreeProvider;
  view: vscode.TreeView<import('./views/node').FleetNode>;
  statusBar: StatusBar;
}

export function activate(context: vscode.ExtensionContext): NixFleetApi {
  const c = new Container(context);
  const tree = new FleetTreeProvider(c);
  const view = vscode.window.createTreeView('nixfleet.fleet', { treeDataProvider: tree, showCollapseAll: true });
  const statusBar = new StatusBar(c);
  context.subscriptions.push(
    c,
    tree,
    view,
    statusBar,
    ...registerCommands(c),
    fleetContextKeys(c.fleet, context.extension.id),
    view.onDidChangeVisibility((e) => {
      if (e.visible) void c.ensureStarted();
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('nixfleet.hosts')) c.loadHosts();
      if (e.affectsConfiguration('nixfleet.broker')) void c.restartBroker();
      if (e.affectsConfiguration('nixfleet.discoverFromFlake') && c.fleet.isStarted) void c.rediscover();
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      tree.queueRefresh(0);
      if (c.fleet.isStarted) void c.rediscover();
    }),
    ...watchWorkspace(c),
  );
  void vscode.commands.executeCommand('setContext', 'nixfleet.activated', true);
  return { container: c, tree, view, statusBar };
}

/** flake.nix/flake.lock/HEAD changes update discovery and the Lock/System rows (once started). */
function watchWorkspace(c: Container): vscode.Disposable[] {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder || folder.uri.scheme !== 'file') return [];
  let timer: NodeJS.Timeout | undefined;
  let flakeChanged = false;
  const changed = (flake: boolean) => {
    if (!c.fleet.isStarted) return;
    flakeChanged ||= flake;
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      const rediscover = flakeChanged;
      flakeChanged = false;
      void c.readWorkspace();
      if (rediscover) void c.rediscover();
    }, 500);
  };
  const flake = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(folder, '{flake.nix,flake.lock}'));
  const head = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(folder, '.git/{HEAD,refs/heads/**}'));
  return [
    flake, head,
    flake.onDidChange(() => changed(true)), flake.onDidCreate(() => changed(true)), flake.onDidDelete(() => changed(true)),
    head.onDidChange(() => changed(false)), head.onDidCreate(() => changed(false)),
    { dispose: () => timer && clearTimeout(timer) },
  ];
}

export function deactivate(): void {
  // Everything activate() made is in context.subscriptions: VS Code disposes it.
}
