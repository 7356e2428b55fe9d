// Add (or replace) a host in nixfleet.hosts. From a flake host without an agent, the name and
// platform are known; only the address is asked for.
import { HOST_NAME_RE, platform as platformSchema, type Platform } from '../../../protocol';
import { CancelledByUser, type Editor, type InputOptions } from '../../editor/editor';
import { asArgs, isProgrammatic } from '../../flows/args';
import { parseAddress, parseHostsSetting, type HostEntry } from '../../fleet/hostConfig';
import { defineCommand } from '../types';

async function ask(editor: Editor, prompt: InputOptions): Promise<string> {
  const v = await editor.showInputBox({ ignoreFocusOut: true, ...prompt });
  if (v === undefined) throw new CancelledByUser();
  return v.trim();
}

export default defineCommand({
  id: 'nixfleet.addHost',
  title: 'Add Host',
  mutating: true,
  async run(c, arg) {
    const args = asArgs(arg);
    const interactive = !isProgrammatic(arg) || args.address === undefined;
    const name = typeof args.name === 'string' ? args.name : typeof args.host === 'string' ? args.host : interactive
      ? await ask(c.editor, { title: 'NixFleet: Add Host', prompt: 'Host name (the flake attribute, e.g. web-01; home-manager: user@host)', validateInput: (v) => (HOST_NAME_RE.test(v.trim()) ? undefined : 'letters, digits, "_" and "-" (home-manager: user@host)') })
      : '';
    let platform: Platform;
    if (args.platform !== undefined) platform = platformSchema.parse(args.platform);
    else if (!interactive) platform = 'nixos';
    else {
      const p = await c.editor.showQuickPick(platformSchema.options.map((label) => ({ label })), { title: `NixFleet: Add Host ${name}`, placeHolder: 'Platform' });
      if (!p) throw new CancelledByUser();
      platform = p.label;
    }
    const address = typeof args.address === 'string' ? args.address : await ask(c.editor, {
      title: `NixFleet: Add Host ${name}`,
      prompt: "Agent address: ws://HOST:PORT, wss://HOST:PORT or ssh://[user@]HOST[:PORT]",
      placeHolder: 'wss://web-01.lan:7531',
      validateInput: (v) => {
        try {
          parseAddress(name, v.trim());
          return undefined;
        } catch (err) {
          return (err as Error).message;
        }
      },
    });
    let agentConfig = typeof args.agentConfig === 'string' ? args.agentConfig : undefined;
    if (agentConfig === undefined && interactive && address.startsWith('ssh://')) {
      agentConfig = (await ask(c.editor, { title: `NixFleet: Add Host ${name}`, prompt: 'Agent config file on the host (empty: the agent default)', placeHolder: '/etc/nixfleet/agent.json' })) || undefined;
    }
    const entry: HostEntry = { name, address, platform, ...(agentConfig ? { agentConfig } : {}) };
    const check = parseHostsSetting([entry]);
    if (check.errors.length) throw new Error(check.errors[0]!);
    await c.saveHostEntry(entry);
    if (interactive && !address.startsWith('ssh://')) {
      const setToken = 'Set Agent Token';
      const choice = await c.editor.showInformationMessage(`Added ${name}. Its agent needs a token for changes.`, setToken);
      if (choice === setToken) await c.editor.executeCommand('nixfleet.setAgentToken', { host: name, treeNode: true });
    }
    await c.ensureStarted();
    return entry;
  },
});
