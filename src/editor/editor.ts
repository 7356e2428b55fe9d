// The seam between the extension's flows and VS Code: what a flow asks of the editor (messages,
// pickers, input, progress, settings, other commands). vscodeEditor.ts implements it over
// `vscode.window`; tests hand the flows a scripted one, so rollback, deploy undo and Rebuild
// Smart's dialogs run under node:test. No vscode import here.

export interface PickItem {
  label: string;
  description?: string;
  detail?: string;
  /** Multi-select pickers: selected from the start. */
  picked?: boolean;
}

export interface PickOptions<T extends PickItem> {
  title: string;
  placeHolder?: string;
  matchOnDescription?: boolean;
  /** The item selected when the picker opens. */
  active?: T;
}

export interface InputOptions {
  title: string;
  prompt: string;
  /** Greyed example text in the empty box. */
  placeHolder?: string;
  password?: boolean;
  /** Keeps the box open when focus moves elsewhere (pasting a token from another window). */
  ignoreFocusOut?: boolean;
  /** An error text for a value that is not accepted, undefined when it is. */
  validateInput?(value: string): string | undefined;
}

export interface Progress {
  report(message: string): void;
}

/**
 * A yes/no question before something that changes hosts or repositories. VS Code makes the
 * first button of a modal its default (Enter) and adds Cancel; so `keep`, the answer that
 * changes nothing ("Keep Generation 5"), comes first and Enter never does the harm.
 */
export interface Confirmation {
  message: string;
  detail?: string;
  /** The button that does it ("Roll Back"). */
  action: string;
  /** The first (default) button: leaves everything as it is. */
  keep: string;
}

export interface Editor {
  showInformationMessage(message: string, ...actions: string[]): Promise<string | undefined>;
  showWarningMessage(message: string, ...actions: string[]): Promise<string | undefined>;
  showErrorMessage(message: string, ...actions: string[]): Promise<string | undefined>;
  /** A modal warning with `detail` under it; resolves with the action chosen, undefined when dismissed. */
  showModalWarning(message: string, detail: string | undefined, ...actions: string[]): Promise<string | undefined>;
  /** A modal warning whose default button is `keep`; true only when `action` was chosen. */
  confirm(question: Confirmation): Promise<boolean>;
  showQuickPick<T extends PickItem>(items: readonly T[], options: PickOptions<T>): Promise<T | undefined>;
  showQuickPickMany<T extends PickItem>(items: readonly T[], options: PickOptions<T>): Promise<T[] | undefined>;
  showInputBox(options: InputOptions): Promise<string | undefined>;
  /**
   * A progress notification titled `title` while `task` runs. Cancellable ones show Cancel,
   * which aborts the signal handed to the task.
   */
  withProgress<R>(options: { title: string; cancellable?: boolean }, task: (progress: Progress, signal: AbortSignal) => Promise<R>): Promise<R>;
  /** A setting's value as the user set it, or its contributed default (`nixfleet.magicRollback`). */
  setting(key: string): unknown;
  executeCommand(command: string, ...args: unknown[]): Promise<unknown>;
  openExternal(url: string): Promise<void>;
}

/** The user dismissed a picker or declined a confirmation: nothing happened, nothing to report. */
export class CancelledByUser extends Error {
  override name = 'CancelledByUser';
  constructor() {
    super('cancelled');
  }
}
