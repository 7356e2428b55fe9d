// The agent's bearer token for a host, into SecretStorage (never settings, never logs).
// `token: ''` deletes it. The host's session reconnects with the new token.
import { CancelledByUser } from '../../editor/editor';
import { asArgs } from '../../flows/args';
import { resolveHost } from '../../flows/pickHost';
import { TOKEN_RE } from '../../ui/secrets';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.setAgentToken',
  title: 'Set Agent Token',
  mutating: false,
  async run(c, arg) {
    const args = asArgs(arg);
    const host = await resolveHost(c, arg, { title: 'Set Agent Token' });
    let token = typeof args.token === 'string' ? args.token : undefined;
    if (token === undefined) {
      token = await c.editor.showInputBox({
        title: `NixFleet: Agent token for ${host.name}`,
        prompt: `The bearer token in ${host.name}'s agent token file. Stored in VS Code SecretStorage. Leave empty to remove the stored token.`,
        password: true,
        ignoreFocusOut: true,
        validateInput: (v) => (v === '' || TOKEN_RE.test(v.trim()) ? undefined : 'a token is 16-4096 printable characters without spaces'),
      });
      if (token === undefined) throw new CancelledByUser();
      token = token.trim();
    }
    if (token === '') await c.tokens.deleteAgentToken(host.name);
    else await c.tokens.setAgentToken(host.name, token);
    await c.fleet.reconnect(host.name);
    return { host: host.name, stored: token !== '' };
  },
});
