// The operator's NATS credentials for nixfleet.broker, into SecretStorage (never settings,
// never logs): read from a file the user picks (their own, mode 0600, as the CLI's
// --credentials) or pasted, checked in form first. `{ text: '' }` removes them. The broker
// connection starts again with them (Container.restartBroker, on the secret's change).
import * as vscode from 'vscode';
import { pastedCredentials, readCredentialsFile } from '../../broker/credentials';
import { CancelledByUser } from '../../editor/editor';
import { asArgs } from '../../flows/args';
import { defineCommand } from '../types';

const PICK_FILE = 'Pick a credentials file…';
const PASTE = 'Paste the credentials…';
const REMOVE = 'Remove the stored credentials';

export default defineCommand({
  id: 'nixfleet.setBrokerCredentials',
  title: 'Set Broker Credentials',
  mutating: false,
  async run(c, arg) {
    const args = asArgs(arg);
    let text: string;
    if (typeof args.file === 'string') text = readCredentialsFile(args.file);
    else if (typeof args.text === 'string') text = args.text === '' ? '' : pastedCredentials(args.text);
    else text = await ask(c.editor, await c.tokens.getBrokerCredentials() !== undefined);
    await c.tokens.setBrokerCredentials(text);
    // Connect with them now (the secret's change event asks too; one of the two does it).
    await c.ensureStarted();
    await c.restartBroker();
    const problem = await c.brokerSettled();
    if (!Object.keys(args).length) {
      if (problem) void c.editor.showErrorMessage(`NixFleet: ${problem}`);
      else void c.editor.showInformationMessage(text ? 'NixFleet: broker credentials stored in SecretStorage' : 'NixFleet: broker credentials removed');
    }
    return { stored: text !== '', ...(problem ? { problem } : {}) };
  },
});

async function ask(editor: import('../../editor/editor').Editor, stored: boolean): Promise<string> {
  const choice = await editor.showQuickPick(
    [
      { label: PICK_FILE, detail: 'an nkey seed (operators/NAME.nk from "nixfleet-agent broker-config") or a .creds file; mode 0600, yours' },
      { label: PASTE, detail: 'the seed (a line starting "SU") or the whole .creds text' },
      ...(stored ? [{ label: REMOVE }] : []),
    ],
    { title: 'NixFleet: Broker Credentials', placeHolder: 'The operator credentials for nixfleet.broker, kept in VS Code SecretStorage' },
  );
  if (!choice) throw new CancelledByUser();
  if (choice.label === REMOVE) return '';
  if (choice.label === PICK_FILE) {
    const picked = await vscode.window.showOpenDialog({ title: 'NixFleet: Broker credentials file', canSelectMany: false, openLabel: 'Use these credentials', filters: { 'NATS credentials': ['nk', 'creds', 'seed'], 'All files': ['*'] } });
    const uri = picked?.[0];
    if (!uri) throw new CancelledByUser();
    if (uri.scheme !== 'file') throw new Error(`the credentials file must be on this machine, not ${uri.scheme}:`);
    return readCredentialsFile(uri.fsPath);
  }
  const pasted = await editor.showInputBox({
    title: 'NixFleet: Broker credentials',
    prompt: 'The operator nkey seed or .creds text. Stored in VS Code SecretStorage, never in settings.',
    password: true,
    ignoreFocusOut: true,
    validateInput: (v) => {
      try {
        pastedCredentials(v);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    },
  });
  if (pasted === undefined) throw new CancelledByUser();
  return pastedCredentials(pasted);
}
