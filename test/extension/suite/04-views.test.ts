// The Fleet tree and the status bar, read through the provider the view uses.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { FleetNode } from '../../../src/views/node';
import type { OpInfo } from '../../../protocol';
import { cmd, configureFleet, deadHosts, liveHosts, profileGeneration, setActivationHook, until } from './helpers';

const label = (n: FleetNode) => {
  const l = n.getTreeItem().label;
  return typeof l === 'string' ? l : (l?.label ?? '');
};

describe('Fleet view and status bar', () => {
  it('lists every host; a host has the five status rows and its generations, current marked', async () => {
    const a = await configureFleet();
    await until('all live hosts online', () => liveHosts().every((h) => a.container.fleet.host(h.name)?.generations));
    const roots = await a.tree.getChildren();
    const names = roots.map(label);
    for (const h of [...liveHosts(), ...deadHosts()]) assert.ok(names.includes(h.name), `${h.name} in ${names.join(', ')}`);
    const h = liveHosts()[0]!;
    const hostNode = roots.find((n) => label(n) === h.name)!;
    assert.equal(hostNode.getTreeItem().contextValue, 'host-online');
    // Drift rows (each with its fix) come first; then the five status rows and the generations.
    const children = (await a.tree.getChildren(hostNode)).filter((n) => n.getTreeItem().contextValue !== 'status-drift');
    assert.deepEqual(children.map(label), ['Agent', 'Git', 'Lock', 'System', 'Tests', 'Generations']);
    const gens = await a.tree.getChildren(children[5]);
    const current = profileGeneration(h.profile!);
    const currentNode = gens.find((g) => g.getTreeItem().contextValue === 'generation-current')!;
    assert.match(label(currentNode), new RegExp(`^Generation ${current} \\(current`));
    assert.ok(gens.filter((g) => g.getTreeItem().contextValue === 'generation').length >= 1, 'older generations can be rolled back to');
  });

  it('an offline host stays listed with the reason and offers no ops', async () => {
    const a = await configureFleet();
    for (const h of deadHosts()) {
      await until(`${h.name} offline`, () => a.container.fleet.host(h.name)?.connection === 'offline');
      const node = (await a.tree.getChildren()).find((n) => label(n) === h.name)!;
      assert.equal(node.getTreeItem().contextValue, 'host-offline');
      const [agent] = await a.tree.getChildren(node);
      assert.match(String(agent!.getTreeItem().description), /^offline/);
    }
  });

  it('a host whose agent refuses the token: its Agent row names Set Agent Token and runs it when clicked; an op on it fails with the code that offers it', async () => {
    const a = await configureFleet();
    const h = liveHosts()[0]!;
    await until(`${h.name} online`, () => a.container.fleet.host(h.name)?.connection === 'online');
    try {
      await cmd('nixfleet.setAgentToken', { host: h.name, token: `not-the-token-of-${h.name.replace(/[^a-z0-9]/gi, '')}` });
      const snap = await until(`${h.name} offline, its token refused`, () => {
        const s = a.container.fleet.host(h.name);
        return s?.connection === 'offline' && s.problemCode === 'unauthorized' ? s : undefined;
      });
      assert.match(snap.problem!, /the agent refused the token \(401\).*store the right token with "NixFleet: Set Agent Token"/);
      assert.doesNotMatch(snap.problem!, /then Refresh/, 'storing the token reconnects: no Refresh to do after it');
      const hostNode = (await a.tree.getChildren()).find((n) => label(n) === h.name)!;
      const agentRow = (await a.tree.getChildren(hostNode)).find((n) => label(n) === 'Agent')!;
      const item = agentRow.getTreeItem();
      assert.match(String(item.description), /^offline: the agent refused the token/);
      assert.equal(item.command?.command, 'nixfleet.setAgentToken', 'clicking the Agent row runs Set Agent Token');
      assert.deepEqual(item.command?.arguments, [{ host: h.name, treeNode: true }]);
      // An op on the host: the error carries the code src/flows/fixes.ts offers Set Agent Token for.
      const err = (await a.container.fleet.runOp(h.name, 'test', {}).then(() => undefined, (e: unknown) => e)) as { code?: string; host?: string; message?: string } | undefined;
      assert.ok(err, 'an op on a host whose agent refuses the token must fail');
      assert.equal(err.code, 'unauthorized', err.message);
      assert.equal(err.host, h.name);
      // The row's command with the right token (given here instead of typed): back online.
      await cmd(item.command!.command, { host: h.name, token: h.token });
      await until(`${h.name} back online`, () => a.container.fleet.host(h.name)?.connection === 'online');
      assert.equal(a.container.fleet.host(h.name)?.problemCode, undefined);
    } finally {
      if (a.container.fleet.host(h.name)?.connection !== 'online') await cmd('nixfleet.setAgentToken', { host: h.name, token: h.token });
    }
  });

  it('a running op shows under its host and Cancel Operation cancels it', async () => {
    const a = await configureFleet();
    const h = liveHosts()[0]!;
    setActivationHook(h, 'sleep 20');
    try {
      let id = '';
      const running = a.container.fleet.runOp(h.name, 'force-rebuild', {}, { onStarted: (o) => (id = o.id) });
      await until('the op in the host snapshot', () => id && a.container.fleet.host(h.name)?.runningOps.some((o) => o.id === id));
      // Nodes hold the snapshot they were made from: ask the provider afresh each time, as the view does.
      const hostChildren = async () => a.tree.getChildren((await a.tree.getChildren()).find((n) => label(n) === h.name)!);
      const opNode = await until('the running op in the tree', async () =>
        (await hostChildren()).find((n) => n.getTreeItem().contextValue === 'op-running'),
      );
      assert.equal(label(opNode), 'Running: force-rebuild');
      await vscode.commands.executeCommand('nixfleet.cancelOp', { host: h.name, op: id });
      const op: OpInfo = await running;
      assert.equal(op.state, 'cancelled', op.error);
      await until('the op gone from the tree', async () => !(await hostChildren()).some((n) => n.getTreeItem().contextValue === 'op-running'));
    } finally {
      setActivationHook(h, null);
    }
  });

  it('a change on one host refreshes that host alone: an offline host retrying or an op elsewhere never redraws the whole tree', async () => {
    const a = await configureFleet();
    await until('all live hosts online', () => liveHosts().every((h) => a.container.fleet.host(h.name)?.generations));
    const h = liveHosts()[0]!;
    // Draw the tree as the view does, so the provider knows what is on screen.
    const roots = await a.tree.getChildren();
    for (const n of roots) await a.tree.getChildren(n);
    const events: (FleetNode | FleetNode[] | undefined | null | void)[] = [];
    const sub = a.tree.onDidChangeTreeData((e) => events.push(e));
    try {
      const op = await a.container.fleet.runOp(h.name, 'test', {});
      assert.equal(op.state === 'succeeded' || op.state === 'failed', true, `the test op ended: ${op.state}`);
      const refreshed = () => events.flatMap((e) => (Array.isArray(e) ? e : e ? [e] : [])).map(label);
      await until(`${h.name}'s row refreshed after its op`, () => refreshed().includes(h.name));
      // The offline hosts keep retrying meanwhile; none of that (nor the op) redraws every row.
      assert.equal(events.filter((e) => !e).length, 0, `whole-tree refreshes while the host list did not change: ${events.length} events`);
      const stale = roots.find((n) => label(n) === h.name)!;
      assert.equal((await a.tree.getChildren()).find((n) => label(n) === h.name), stale, 'a host keeps its node across refreshes (VS Code refreshes the element it has)');
    } finally {
      sub.dispose();
    }
  });

  it('the status bar summarises the fleet and opens the view', async () => {
    const a = await configureFleet();
    const live = liveHosts().length;
    const all = live + deadHosts().length;
    await until('status bar summary', () => a.statusBar.text.includes(`${live}/${all} online`));
    await vscode.commands.executeCommand('nixfleet.focus');
  });
});
