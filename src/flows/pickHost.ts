// Which host a command acts on: the tree item it was run from, an explicit { host } argument,
// or (from the palette) a picker.
import { HOST_NAME_RE } from '../../protocol';
import { CancelledByUser } from '../editor/editor';
import type { HostSnapshot } from '../fleet/hostSnapshot';
import { agentRow } from '../fleet/statusRows';
import { asArgs } from './args';
import type { FlowContext } from './context';
import { FIXES, FixableError } from './fixes';

export async function resolveHost(
  c: Pick<FlowContext, 'fleet' | 'editor' | 'ensureStarted'>,
  arg: unknown,
  opts: { title: string; needsAgent?: boolean } = { title: 'Pick a host' },
): Promise<HostSnapshot> {
  await c.ensureStarted();
  const { host } = asArgs(arg);
  if (host !== undefined) {
    if (typeof host !== 'string' || !HOST_NAME_RE.test(host)) throw new Error(`"${String(host)}" is not a host name`);
    const snap = c.fleet.host(host);
    if (!snap) throw new FixableError(`host ${host} is not in nixfleet.hosts nor in the workspace flake: add it with "NixFleet: Add Host"`, FIXES.addHost(host));
    if (opts.needsAgent !== false && !snap.entry) throw new FixableError(`host ${host} has no agent configured: use "NixFleet: Add Host" to give its agent's address`, FIXES.addHost(host));
    return snap;
  }
  const hosts = c.fleet.hosts().filter((h) => opts.needsAgent === false || h.entry);
  if (hosts.length === 0) throw new FixableError('no host has an agent configured: add one with "NixFleet: Add Host"', FIXES.addHost());
  if (hosts.length === 1) return hosts[0]!;
  const picked = await c.editor.showQuickPick(
    hosts.map((h) => ({
      label: `$(${h.connection === 'online' ? 'vm-active' : 'vm-outline'}) ${h.name}`,
      description: `${h.platform} · ${agentRow(h).value}`,
      host: h,
    })),
    { title: `NixFleet: ${opts.title}`, placeHolder: 'Host', matchOnDescription: true },
  );
  if (!picked) throw new CancelledByUser();
  return picked.host;
}
