// The Editor seam (editor.ts) over VS Code's window, workspace and commands APIs.
import * as vscode from 'vscode';
import type { Editor, InputOptions, PickItem, PickOptions, Progress } from './editor';

export const vscodeEditor: Editor = {
  async showInformationMessage(message, ...actions) {
    return vscode.window.showInformationMessage(message, ...actions);
  },
  async showWarningMessage(message, ...actions) {
    return vscode.window.showWarningMessage(message, ...actions);
  },
  async showErrorMessage(message, ...actions) {
    return vscode.window.showErrorMessage(message, ...actions);
  },
  async showModalWarning(message, detail, ...actions) {
    return vscode.window.showWarningMessage(message, { modal: true, ...(detail === undefined ? {} : { detail }) }, ...actions);
  },
  async confirm(q) {
    const choice = await vscode.window.showWarningMessage(q.message, { modal: true, ...(q.detail === undefined ? {} : { detail: q.detail }) }, q.keep, q.action);
    return choice === q.action;
  },
  showQuickPick<T extends PickItem>(items: readonly T[], options: PickOptions<T>): Promise<T | undefined> {
    // createQuickPick: showQuickPick cannot preselect an item.
    if (options.active) return pickWithActive(items, options);
    return Promise.resolve(vscode.window.showQuickPick([...items], { title: options.title, placeHolder: options.placeHolder, matchOnDescription: options.matchOnDescription }));
  },
  async showQuickPickMany<T extends PickItem>(items: readonly T[], options: PickOptions<T>): Promise<T[] | undefined> {
    return vscode.window.showQuickPick([...items], { title: options.title, placeHolder: options.placeHolder, matchOnDescription: options.matchOnDescription, canPickMany: true });
  },
  async showInputBox(options: InputOptions) {
    return vscode.window.showInputBox({
      title: options.title,
      prompt: options.prompt,
      placeHolder: options.placeHolder,
      password: options.password,
      ignoreFocusOut: options.ignoreFocusOut,
      validateInput: options.validateInput ? (v) => options.validateInput!(v) : undefined,
    });
  },
  async withProgress<R>(options: { title: string; cancellable?: boolean }, task: (progress: Progress, signal: AbortSignal) => Promise<R>): Promise<R> {
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: options.title, cancellable: options.cancellable === true },
      async (progress, token) => {
        const abort = new AbortController();
        const sub = token.onCancellationRequested(() => abort.abort());
        try {
          return await task({ report: (message) => progress.report({ message }) }, abort.signal);
        } finally {
          sub.dispose();
        }
      },
    );
  },
  setting(key) {
    return vscode.workspace.getConfiguration().get(key);
  },
  async executeCommand(command, ...args) {
    return vscode.commands.executeCommand(command, ...args);
  },
  async openExternal(url) {
    await vscode.env.openExternal(vscode.Uri.parse(url));
  },
};

function pickWithActive<T extends PickItem>(items: readonly T[], options: PickOptions<T>): Promise<T | undefined> {
  const qp = vscode.window.createQuickPick<T>();
  qp.title = options.title;
  qp.placeholder = options.placeHolder;
  qp.matchOnDescription = options.matchOnDescription ?? false;
  qp.items = items;
  if (options.active) qp.activeItems = [options.active];
  return new Promise<T | undefined>((resolve) => {
    let done = false;
    qp.onDidAccept(() => {
      const item = qp.selectedItems[0] ?? qp.activeItems[0];
      if (!item) return;
      done = true;
      qp.hide();
      resolve(item);
    });
    qp.onDidHide(() => {
      qp.dispose();
      if (!done) resolve(undefined);
    });
    qp.show();
  });
}
