import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { OpInfo, OutputLine } from '../../../protocol';
import { cmd, configureFleet, liveHosts, profileGeneration, until } from './helpers';

describe('ops through the commands, checked on disk', () => {
  it('Force Rebuild streams every output line once, in seq order, and moves the profile', async () => {
    const { container: c } = await configureFleet();
    const h = liveHosts()[0]!;
    const lines: OutputLine[] = [];
    const notices: string[] = [];
    const offNotice = c.fleet.onNotice.on((n) => n.host === h.name && notices.push(n.text));
    const off = c.fleet.onOutput.on((e) => {
      if (e.host === h.name) lines.push(...e.lines);
    });
    try {
      const op = (await vscode.commands.executeCommand('nixfleet.forceRebuild', { host: h.name })) as OpInfo;
      // nixfleet.magicRollback is on by default: the activation was confirmed over a new connection.
      if (op.result?.generationAfter !== op.result?.generationBefore) {
        assert.ok(notices.some((t) => /confirmed op .* over a new connection/.test(t)), `no magic-rollback confirmation: ${notices.join('; ')}`);
      }
      assert.equal(op.state, 'succeeded', op.error);
      assert.equal(op.kind, 'force-rebuild');
      const mine = lines.filter((l) => l.seq <= op.lastSeq);
      assert.ok(op.lastSeq > 0, 'the op wrote output');
      assert.deepEqual(mine.map((l) => l.seq), Array.from({ length: op.lastSeq }, (_, i) => i + 1), 'each seq once, in order');
      assert.equal(profileGeneration(h.profile!), op.result?.generationAfter ?? profileGeneration(h.profile!));
      await until('generations refreshed', () => c.fleet.host(h.name)?.generations?.find((g) => g.current)?.generation === profileGeneration(h.profile!));
    } finally {
      off();
      offNotice();
    }
  });

  it('Rollback with { host, generation, confirm } rolls the profile back on disk', async () => {
    const { container: c } = await configureFleet();
    const h = liveHosts()[0]!;
    await vscode.commands.executeCommand('nixfleet.refresh', { host: h.name });
    const gens = c.fleet.host(h.name)!.generations!;
    const before = profileGeneration(h.profile!);
    const target = gens.filter((g) => !g.current && g.present).sort((a, b) => b.generation - a.generation)[0]!;
    const op = (await vscode.commands.executeCommand('nixfleet.rollback', { host: h.name, generation: target.generation, confirm: true })) as OpInfo;
    assert.equal(op.state, 'succeeded', op.error);
    assert.equal(profileGeneration(h.profile!), target.generation);
    assert.notEqual(before, target.generation);
    await until('the tree shows the new current generation', () => c.fleet.host(h.name)?.generations?.find((g) => g.current)?.generation === target.generation);
  });

  it('Rollback works on every platform of the fleet (nixos, darwin, home-manager), checked on disk', async () => {
    const { container: c } = await configureFleet();
    for (const h of liveHosts().slice(1)) {
      await vscode.commands.executeCommand('nixfleet.refresh', { host: h.name });
      const gens = c.fleet.host(h.name)!.generations!;
      const target = gens.filter((g) => !g.current && g.present).sort((a, b) => a.generation - b.generation)[0]!;
      const op = (await vscode.commands.executeCommand('nixfleet.rollbackToGeneration', { host: h.name, generation: target.generation, confirm: true })) as OpInfo;
      assert.equal(op.state, 'succeeded', `${h.name} (${h.platform}): ${op.error}`);
      assert.equal(profileGeneration(h.profile!), target.generation, `${h.name} (${h.platform}) profile on disk`);
    }
  });

  it('Rollback to This Generation refuses the current generation and a missing one', async () => {
    const { container: c } = await configureFleet();
    const h = liveHosts()[0]!;
    const current = profileGeneration(h.profile!);
    await assert.rejects(cmd('nixfleet.rollbackToGeneration', { host: h.name, generation: current, confirm: true }), /already runs generation/);
    await assert.rejects(cmd('nixfleet.rollbackToGeneration', { host: h.name, generation: 99999, confirm: true }), /has no generation 99999/);
    assert.equal(c.fleet.host(h.name)!.connection, 'online');
  });

  it('Run Tests records a health-check result shown in the Tests row', async () => {
    const { container: c } = await configureFleet();
    const h = liveHosts()[liveHosts().length > 1 ? 1 : 0]!;
    const op = (await vscode.commands.executeCommand('nixfleet.runTests', { host: h.name })) as OpInfo;
    assert.ok(['succeeded', 'failed'].includes(op.state), `test op ended ${op.state}: ${op.error}`);
    await until('lastChecks reported', () => c.fleet.host(h.name)?.status?.lastChecks);
  });

  it('a cancelled op ends cancelled: the fleet sends op.cancel', async () => {
    const { container: c } = await configureFleet();
    const h = liveHosts()[0]!;
    const abort = new AbortController();
    const op = await c.fleet.runOp(h.name, 'force-rebuild', { fromSource: true }, { signal: abort.signal, onStarted: () => abort.abort() });
    // Cancelled when the cancel arrived in time; a very fast op may have finished first.
    assert.ok(['cancelled', 'succeeded'].includes(op.state), `ended ${op.state}: ${op.error}`);
    await until('host idle again', () => c.fleet.host(h.name)?.runningOps.length === 0);
  });

  it('Rebuild Smart dry run runs the op, streams its phases and changes nothing on disk', async () => {
    const { container: c } = await configureFleet();
    const h = liveHosts()[0]!;
    const before = profileGeneration(h.profile!);
    const texts: string[] = [];
    const off = c.fleet.onOutput.on((e) => e.host === h.name && texts.push(...e.lines.map((l) => l.text)));
    const op = (await vscode.commands.executeCommand('nixfleet.rebuildSmart', { host: h.name, dryRun: true, offline: true })) as OpInfo;
    off();
    assert.equal(op.kind, 'rebuild-smart');
    assert.deepEqual(op.params, { autoCommit: true, autoPush: true, dryRun: true, offline: true });
    assert.equal(op.state, 'succeeded', `${op.error}\n${texts.slice(-10).join('\n')}`);
    assert.ok(texts.length > 0, 'phase output streamed');
    assert.equal(profileGeneration(h.profile!), before, 'dry run: profile unchanged');
  });
});
