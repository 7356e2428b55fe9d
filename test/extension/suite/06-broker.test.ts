// The fleet on a NATS broker inside the real extension host: a real nats-server set up by
// the agent's own broker-config, the first live host served by a second agent that listens
// on no port (its own state dir, so what it ran is told apart from the direct agent's), the
// host taken out of nixfleet.hosts, nixfleet.broker set and the operator credentials stored
// with "Set Broker Credentials" from their 0600 file. The Fleet view lists the host online,
// reached through the broker, and Run Tests runs on it there.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import type { OpInfo } from '../../../protocol';
import { BrokerClient } from '../../../src/broker/client';
import type { FleetNode } from '../../../src/views/node';
import { cmd, configureFleet, liveHosts, until } from './helpers';

const AGENT_JS = path.resolve(__dirname, '../../../dist/agent.js');

const label = (n: FleetNode) => {
  const l = n.getTreeItem().label;
  return typeof l === 'string' ? l : (l?.label ?? '');
};

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function waitPort(port: number, proc: ChildProcess, what: string): Promise<void> {
  await until(`${what} listening on ${port}`, async () => {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}`);
    return new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
  });
}

describe('the fleet through a NATS broker', () => {
  const procs: ChildProcess[] = [];
  let work: string;
  let savedHosts: unknown;

  after(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
    const config = vscode.workspace.getConfiguration('nixfleet');
    await config.update('broker', undefined, vscode.ConfigurationTarget.Workspace);
    if (savedHosts !== undefined) await config.update('hosts', savedHosts, vscode.ConfigurationTarget.Workspace);
    await cmd('nixfleet.setBrokerCredentials', { text: '' }).catch(() => undefined);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('lists a host reached only through the broker online in the Fleet view, and runs an op on it', async function () {
    if (!existsSync(AGENT_JS)) return this.skip();
    const a = await configureFleet();
    const c = a.container;
    const h = liveHosts().find((x) => x.platform === 'nixos' && x.config)!;
    assert.ok(h, 'a live nixos host with its agent config');
    work = mkdtempSync(path.join(tmpdir(), 'nixfleet-ext-broker-'));

    // The broker: the agent's broker-config writes the server config and the seeds.
    const out = spawnSync(process.execPath, [AGENT_JS, 'broker-config', '--hosts', h.name, '--operators', 'alice', '--out', path.join(work, 'broker'), '--json'], { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    const creds = JSON.parse(out.stdout) as { hosts: Record<string, { credentials: string }>; operators: Record<string, { credentials: string }> };
    const port = await freePort();
    const conf = JSON.parse(readFileSync(path.join(work, 'broker', 'nats-server.conf'), 'utf8').replace(/^#.*\n/gm, '')) as Record<string, unknown>;
    writeFileSync(path.join(work, 'server.conf'), JSON.stringify({ ...conf, host: '127.0.0.1', port, jetstream: { store_dir: path.join(work, 'js') } }));
    const nats = spawn('nats-server', ['-c', path.join(work, 'server.conf')], { stdio: 'ignore' });
    procs.push(nats);
    await waitPort(port, nats, 'nats-server');
    const url = `nats://127.0.0.1:${port}`;
    const operatorFile = creds.operators.alice!.credentials;
    const setup = await BrokerClient.connect({ servers: url, credentials: readFileSync(operatorFile, 'utf8'), ensure: { replicas: 1 } });
    await setup.close();

    // A second agent for the host, through the broker alone, with a state dir of its own.
    const stateDir = path.join(work, 'state');
    mkdirSync(stateDir, { mode: 0o700 });
    const agentConfig = { ...(JSON.parse(readFileSync(h.config!, 'utf8')) as Record<string, unknown>), listen: null, broker: url, brokerCredentials: creds.hosts[h.name]!.credentials, stateDir };
    writeFileSync(path.join(work, 'agent.json'), JSON.stringify(agentConfig), { mode: 0o600 });
    const agent = spawn(process.execPath, [AGENT_JS, 'serve', '--config', path.join(work, 'agent.json')], { stdio: 'ignore', env: process.env });
    procs.push(agent);

    // The host leaves nixfleet.hosts; the broker brings it back.
    const config = vscode.workspace.getConfiguration('nixfleet');
    savedHosts = config.inspect('hosts')?.workspaceValue;
    await config.update('hosts', (savedHosts as Array<{ name: string }>).filter((x) => x.name !== h.name), vscode.ConfigurationTarget.Workspace);
    await until(`${h.name} gone from the fleet`, () => !c.fleet.host(h.name)?.entry);
    await config.update('broker', url, vscode.ConfigurationTarget.Workspace);
    const stored = (await cmd('nixfleet.setBrokerCredentials', { file: operatorFile })) as { stored: boolean; problem?: string };
    assert.deepEqual(stored, { stored: true }, 'stored, and the broker connected with them');

    const snap = await until(`${h.name} online through the broker`, () => {
      const s = c.fleet.host(h.name);
      return s?.entry?.address === 'broker' && s.connection === 'online' && s.status ? s : undefined;
    }, 60_000);
    assert.equal(snap.status!.host, h.name);
    const node = await until(`${h.name} in the Fleet view`, async () => (await a.tree.getChildren()).find((n) => label(n) === h.name));
    assert.equal(node.getTreeItem().contextValue, 'host-online');
    assert.match(String(node.getTreeItem().description), /online/);
    // appendText escapes the text as Markdown: compare it as shown.
    const tip = (node.getTreeItem().tooltip as vscode.MarkdownString).value.replace(/&nbsp;/g, ' ').replace(/\\(.)/g, '$1');
    assert.match(tip, /through the NATS broker of nixfleet\.broker/);

    const op = (await cmd('nixfleet.runTests', { host: h.name })) as OpInfo;
    assert.equal(op.state, 'succeeded', op.error);
    // It ran on the broker's agent: its op directory is in that agent's state dir.
    assert.ok(readdirSync(path.join(stateDir, 'ops')).includes(op.id), `op ${op.id} in the broker agent's state dir`);
    await until('the Tests row has the result', () => c.fleet.host(h.name)?.status?.lastChecks?.passed === true);
  });
});
