import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { statusRows } from '../../../src/fleet/statusRows';
import { cmd, configureFleet, deadHosts, liveHosts, profileGeneration, until } from './helpers';

describe('the fleet against real agents', () => {
  it('shows every live host online with status rows and the generations on disk', async () => {
    const { container: c } = await configureFleet();
    for (const h of liveHosts()) {
      const snap = await until(`${h.name} online with generations`, () => {
        const s = c.fleet.host(h.name);
        return s?.connection === 'online' && s.generations?.length ? s : undefined;
      });
      assert.equal(snap.platform, h.platform);
      const current = snap.generations!.find((g) => g.current);
      assert.ok(current, `${h.name} has a current generation`);
      assert.equal(current.generation, profileGeneration(h.profile!), `${h.name}: current generation matches the profile link on disk`);
      // Drift rows (a host set up without checks has "tests not run") come first, then the five.
      const rows = statusRows(snap, c.fleet.workspace).map((r) => r.kind);
      const drifts = rows.filter((k) => k === 'drift').length;
      assert.deepEqual(rows.slice(drifts), ['agent', 'git', 'lock', 'system', 'tests']);
    }
  });

  it('shows the unreachable host offline with the reason, and keeps it listed', async () => {
    const { container: c } = await configureFleet();
    for (const h of deadHosts()) {
      const snap = await until(`${h.name} offline`, () => {
        const s = c.fleet.host(h.name);
        return s?.connection === 'offline' && s.problem ? s : undefined;
      });
      assert.match(snap.problem!, /.+/);
      await assert.rejects(
        cmd('nixfleet.runTests', { host: h.name }),
        (err: Error) => new RegExp(`host ${h.name} is offline`).test(err.message),
      );
    }
  });

  it('Refresh with a host resolves with the fleet, and Show Logs names the host channel', async () => {
    await configureFleet();
    const h = liveHosts()[0]!;
    const hosts = (await vscode.commands.executeCommand('nixfleet.refresh', { host: h.name })) as Array<{ name: string }>;
    assert.ok(hosts.some((x) => x.name === h.name));
    const r = (await vscode.commands.executeCommand('nixfleet.showLogs', { host: h.name })) as { channel: string };
    assert.equal(r.channel, `NixFleet: ${h.name}`);
  });

  it('refuses unknown hosts and bad tokens with clear errors', async () => {
    await configureFleet();
    await assert.rejects(cmd('nixfleet.forceRebuild', { host: 'nosuchhost' }), /host nosuchhost is not in nixfleet.hosts/);
    await assert.rejects(cmd('nixfleet.forceRebuild', { host: 'bad host' }), /"bad host" is not a host name/);
    await assert.rejects(cmd('nixfleet.setAgentToken', { host: liveHosts()[0]!.name, token: 'short' }), /16-4096 printable characters/);
  });

  it('a host of the workspace flake without an agent entry shows "no agent configured" with Add Host', async () => {
    const { container: c } = await configureFleet();
    const config = vscode.workspace.getConfiguration('nixfleet');
    const all = config.get<Array<{ name: string }>>('hosts')!;
    const h = liveHosts()[liveHosts().length - 1]!;
    // The harness's workspace is the test bed's nixcfg checkout: its flake declares every host.
    await vscode.commands.executeCommand('nixfleet.refresh', {});
    assert.equal(c.fleet.host(h.name)!.discoveredIn !== undefined, true, `${h.name} discovered from the flake`);
    await config.update('hosts', all.filter((x) => x.name !== h.name), vscode.ConfigurationTarget.Workspace);
    try {
      const snap = await until(`${h.name} unconfigured`, () => (c.fleet.host(h.name)?.connection === 'unconfigured' ? c.fleet.host(h.name) : undefined));
      assert.equal(snap.platform, h.platform);
      assert.equal(snap.entry, undefined);
      await assert.rejects(cmd('nixfleet.runTests', { host: h.name }), /has no agent configured: use "NixFleet: Add Host"/);
    } finally {
      await config.update('hosts', all, vscode.ConfigurationTarget.Workspace);
    }
    await until(`${h.name} online again`, () => c.fleet.host(h.name)?.connection === 'online');
  });

  it('Add Host writes nixfleet.hosts (addresses only) and the host appears', async () => {
    const { container: c } = await configureFleet();
    const entry = (await vscode.commands.executeCommand('nixfleet.addHost', { name: 'added1', address: 'ws://127.0.0.1:9', platform: 'nixos' })) as { name: string };
    assert.equal(entry.name, 'added1');
    const setting = vscode.workspace.getConfiguration('nixfleet').get<Array<{ name: string; address: string }>>('hosts')!;
    assert.deepEqual(setting.find((h) => h.name === 'added1'), { name: 'added1', address: 'ws://127.0.0.1:9', platform: 'nixos' });
    await until('added1 in the fleet', () => c.fleet.host('added1'));
    await assert.rejects(cmd('nixfleet.addHost', { name: 'added2', address: 'http://x', platform: 'nixos' }), /scheme "http:" is not supported/);
    await vscode.workspace.getConfiguration('nixfleet').update('hosts', setting.filter((h) => h.name !== 'added1'), vscode.ConfigurationTarget.Workspace);
    await until('added1 gone', () => !c.fleet.host('added1'));
  });
});
