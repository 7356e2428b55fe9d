// The deploy's closure diff preview as a read-only virtual document: it cannot be edited by
// mistake, and closing it (or the window) never asks to save an "Untitled" file.
import * as vscode from 'vscode';

const SCHEME = 'nixfleet-closure-diff';
/** The last few previews by path; older ones are dropped (their tabs then say so). */
const texts = new Map<string, string>();
const KEEP = 5;
let provider: vscode.Disposable | undefined;
let counter = 0;

export async function showClosureDiff(context: vscode.ExtensionContext, title: string, text: string): Promise<void> {
  if (!provider) {
    provider = vscode.workspace.registerTextDocumentContentProvider(SCHEME, {
      provideTextDocumentContent: (uri) => texts.get(uri.path) ?? 'This closure diff preview is no longer kept: run the deploy again to see it.',
    });
    context.subscriptions.push(provider, { dispose: () => ((provider = undefined), texts.clear()) });
  }
  // A new path per preview: a document already open under a path keeps its first content.
  const p = `/${++counter}/${title.replace(/[\\/?#%]/g, '-')}`;
  texts.set(p, text);
  while (texts.size > KEEP) texts.delete(texts.keys().next().value!);
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.from({ scheme: SCHEME, path: p }));
  await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: true });
}
