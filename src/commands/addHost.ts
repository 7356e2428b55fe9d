// Add (or replace) a host in nixfleet.hosts. From a flake host without an agent, the name and
// platform are known; only the address is asked for.
import * as vscode from 'vscode';
import { HOST_NAME_RE, platform as platformSchema, type Platform } from '../../protocol';
import { parseAddress, parseHostsSetting, type HostEntry } from '../fleet/hostConfig';
import { asArgs, CancelledByUser, isProgrammatic } from '../ui/pickHost';
import { defineCommand } from './types';

async function ask(prompt: vscode.InputBoxOptions): Promise<string> {
  const v = await vscode.window.showInputBox({ ignoreFocusOut: true, ...prompt });
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
      ? await ask({ title: 'NixFleet: Add Host', prompt: 'Host name (the flake attribute, e.g. web-01; home-manager: user@host)', validateInput: (v) => (HOST_NAME_RE.test(v.trim()) ? undefined : 'letters, digits, "_" and "-" (home-manager: user@host)') })
      : '';
    let platform: Platform;
    if (args.platform !== undefined) platform = platformSchema.parse(args.platform);
    else if (!interactive) platform = 'nixos';
    else {
      const p = await vscode.window.showQuickPick(['nixos', 'darwin', 'home-manager'], { title: `NixFleet: Add Host ${name}`, placeHolder: 'Platform' });
      if (!p) throw new CancelledByUser();
      platform = p as Platform;
    }
    const address = typeof args.address === 'string' ? args.address : await ask({
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
      agentConfig = (await ask({ title: `NixFleet: Add Host ${name}`, prompt: 'Agent config file on the host (empty: the agent default)', placeHolder: '/etc/nixfleet/agent.json' })) || undefined;
    }
    const entry: HostEntry = { name, address, platform, ...(agentConfig ? { agentConfig } : {}) };
    const check = parseHostsSetting([entry]);
    if (check.errors.length) throw new Error(check.errors[0]!);
    await c.saveHostEntry(entry);
    if (interactive && !address.startsWith('ssh://')) {
      const setToken = 'Set Agent Token';
      const choice = await vscode.window.showInformationMessage(`Added ${name}. Its agent needs a token for changes.`, setToken);
      if (choice === setToken) await vscode.commands.executeCommand('nixfleet.setAgentToken', { host: name, treeNode: true });
    }
    await c.ensureStarted();
    return entry;
  },
});
