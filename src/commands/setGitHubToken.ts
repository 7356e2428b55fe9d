// A GitHub token for Revert PR and PR deploys, for editors without a GitHub sign-in.
import * as vscode from 'vscode';
import { promptGitHubToken, setGitHubToken } from '../ui/githubAuth';
import { asArgs, CancelledByUser } from '../ui/pickHost';
import { defineCommand } from './types';

export default defineCommand({
  id: 'nixfleet.setGitHubToken',
  title: 'Set GitHub Token',
  mutating: false,
  async run(c, arg) {
    const args = asArgs(arg);
    const token = typeof args.token === 'string' ? args.token : await promptGitHubToken({ allowEmpty: true });
    if (token === undefined) throw new CancelledByUser();
    await setGitHubToken(c.context.secrets, token);
    if (typeof args.token !== 'string') void vscode.window.showInformationMessage(token ? 'GitHub token stored in SecretStorage' : 'GitHub token removed');
    return { stored: token !== '' };
  },
});
