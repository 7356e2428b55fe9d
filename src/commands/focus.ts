import * as vscode from 'vscode';
import { defineCommand } from './types';

export default defineCommand({
  id: 'nixfleet.focus',
  title: 'Focus Fleet View',
  mutating: false,
  async run() {
    await vscode.commands.executeCommand('nixfleet.fleet.focus');
  },
});
