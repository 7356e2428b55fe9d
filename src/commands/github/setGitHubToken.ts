// A GitHub token for Revert PR and PR deploys, for editors without a GitHub sign-in.
import { CancelledByUser } from '../../editor/editor';
import { asArgs } from '../../flows/args';
import { promptGitHubToken, setGitHubToken } from '../../ui/githubAuth';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.setGitHubToken',
  title: 'Set GitHub Token',
  mutating: false,
  async run(c, arg) {
    const args = asArgs(arg);
    const token = typeof args.token === 'string' ? args.token : await promptGitHubToken({ allowEmpty: true });
    if (token === undefined) throw new CancelledByUser();
    await setGitHubToken(c.context.secrets, token);
    if (typeof args.token !== 'string') void c.editor.showInformationMessage(token ? 'GitHub token stored in SecretStorage' : 'GitHub token removed');
    return { stored: token !== '' };
  },
});
