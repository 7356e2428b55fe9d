// The fleet (no vscode) against real agents: `node dist/agent.js serve` on loopback over the
// real-Nix test bed. Run `npm run build` first when running this file by hand.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { OpInfo, OutputLine } from '../../protocol';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, connect, startAgent, waitFor as until, type RunningAgent } from './agent-harness';
import { openAgentSession } from '../../src/fleet/agentSession';
import { Fleet } from '../../src/fleet/fleet';
import type { HostEntry } from '../../src/fleet/hostConfig';
import { summarise } from '../../src/fleet/summary';
import { statusRows } from '../../src/fleet/statusRows';
import { readWorkspaceInfo } from '../../src/fleet/workspace';
import { agentFleet, profileGeneration } from './fleet-harness';

const execFileP = promisify(execFile);


describe('fleet against real agents', { skip: !existsSync(AGENT_JS) && 'dist/agent.js missing: run npm run build' }, () => {
  let bed: TestBed;
  const agents = new Map<string, RunningAgent>();
  let fleet: Fleet;
  let tokens: Record<string, string | undefined>;
  const hosts = ['h1', 'h2'];

  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }, { name: 'h2', platform: 'nixos' }] });
    // Two generations per host, from two real commits, so there is something to roll back to.
    for (const [i, version] of ['24.05.1', '24.05.2'].entries()) {
      if (i > 0) for (const h of hosts) await bed.setVersion(h, version);
      for (const h of hosts) {
        const storePath = await bed.build(h, bed.workstation);
        await execFileP('nix-env', ['-p', bed.host(h).profile, '--set', storePath], { env: bed.env });
      }
    }
    // A flake without inputs still may have a lock file: both sides hash it for the Lock row.
    await bed.commit({ 'flake.lock': '{"nodes":{"root":{}},"root":"root","version":7}\n' }, 'add flake.lock');
    for (const h of hosts) await execFileP('git', ['pull', '-q', '--ff-only', 'origin', 'main'], { cwd: bed.host(h).checkout, env: bed.env });
    for (const h of hosts) agents.set(h, await startAgent(bed, h));
    tokens = { h1: bed.token, h2: bed.token, dead: bed.token };
    const entries: HostEntry[] = [
      ...hosts.map((h) => ({ name: h, address: agents.get(h)!.url, platform: 'nixos' as const })),
      // A loopback port where nothing listens.
      { name: 'dead', address: 'ws://127.0.0.1:9', platform: 'nixos' },
    ];
    fleet = agentFleet('fleet-test', async (h) => tokens[h], { requestTimeoutMs: 20_000, connectWaitMs: 8000 });
    fleet.configure(entries, [{ name: 'h9', platform: 'nixos', attribute: 'nixosConfigurations' }], []);
    fleet.setWorkspace(await readWorkspaceInfo(bed.workstation));
    await fleet.start();
  });

  after(async () => {
    fleet?.dispose();
    await Promise.all([...agents.values()].map((a) => a.stop()));
    await bed?.cleanup();
  });

  it('hosts come online with status and generations matching the profile on disk; the dead one is offline with a reason', async () => {
    for (const h of hosts) {
      const s = await until(`${h} online with generations`, () => {
        const x = fleet.host(h);
        return x?.connection === 'online' && x.generations?.length && x.status ? x : undefined;
      });
      assert.equal(s.generations!.find((g) => g.current)!.generation, profileGeneration(bed.host(h).profile));
      assert.equal(s.status!.currentGeneration, profileGeneration(bed.host(h).profile));
      const rows = Object.fromEntries(statusRows(s, fleet.workspace).map((r) => [r.kind, r]));
      assert.equal(rows.agent!.level, 'ok');
      assert.equal(rows.lock!.value, 'same inputs as the workspace', rows.lock!.tooltip);
      assert.equal(rows.git!.level, 'ok', rows.git!.value);
      assert.equal(rows.system!.level, 'unknown', 'not switched by the agent: source commit not recorded');
    }
    // A commit the hosts have not pulled that reformats flake.lock: the Git row says the commit
    // differs; the Lock row that the file differs but every input is pinned the same.
    await bed.commit({ 'flake.lock': '{"nodes":{"root":{}},"root":"root","version":7}\n\n' }, 'touch flake.lock');
    fleet.setWorkspace(await readWorkspaceInfo(bed.workstation));
    const outdated = Object.fromEntries(statusRows(fleet.host('h1')!, fleet.workspace).map((r) => [r.kind, r]));
    assert.equal(outdated.lock!.value, 'same pins, other file');
    assert.equal(outdated.git!.level, 'warn');
    assert.match(outdated.git!.tooltip, /The workspace is at/);
    const dead = await until('dead offline', () => (fleet.host('dead')?.connection === 'offline' ? fleet.host('dead') : undefined));
    assert.match(dead!.problem!, /127\.0\.0\.1:9|ECONNREFUSED|connect/);
    assert.equal(fleet.host('h9')!.connection, 'unconfigured');
    assert.equal(summarise(fleet.hosts()).text, '2/3 online');
    await assert.rejects(fleet.runOp('dead', 'test', {}), /host dead is offline \(.+\): check that its agent runs/);
    await assert.rejects(fleet.runOp('h9', 'test', {}), /host h9 has no agent configured/);
  });

  it('force-rebuild: every output line exactly once and in order; the profile moves; generations follow', async () => {
    const lines: OutputLine[] = [];
    const off = fleet.onOutput.on((e) => e.host === 'h1' && lines.push(...e.lines));
    await bed.setVersion('h1', '24.05.3');
    const before = profileGeneration(bed.host('h1').profile);
    await fleet.runOp('h1', 'pull', {});
    const op = await fleet.runOp('h1', 'force-rebuild', {});
    off();
    assert.equal(op.state, 'succeeded', op.error);
    assert.ok(op.lastSeq > 0);
    const mine = lines.filter((l) => l.seq <= op.lastSeq && l.time >= op.startedAt);
    assert.deepEqual(mine.map((l) => l.seq), Array.from({ length: op.lastSeq }, (_, i) => i + 1));
    assert.equal(profileGeneration(bed.host('h1').profile), before + 1);
    await until('generations refreshed', () => fleet.host('h1')!.generations!.find((g) => g.current)?.generation === before + 1);
  });

  it('a second mutating op on a busy host is refused with "busy"; cancel ends the first one cancelled', async () => {
    bed.setHook('h2', 'sleep 5');
    const abort = new AbortController();
    let started!: (op: OpInfo) => void;
    const startedP = new Promise<OpInfo>((r) => (started = r));
    const first = fleet.runOp('h2', 'force-rebuild', {}, { signal: abort.signal, onStarted: started });
    await startedP;
    await until('h2 busy', () => fleet.host('h2')!.runningOps.length > 0);
    await assert.rejects(fleet.runOp('h2', 'test', {}), /test on h2 not started: host is busy/);
    abort.abort();
    const op = await first;
    bed.setHook('h2', null);
    assert.equal(op.state, 'cancelled', `ended ${op.state}: ${op.error}`);
    await until('h2 idle', () => fleet.host('h2')!.runningOps.length === 0);
  });

  it('output survives an agent kill -9 and restart mid-op: resumed by seq, nothing duplicated or lost', async () => {
    bed.setHook('h2', 'for i in 1 2 3 4 5 6; do echo "hook line $i"; sleep 0.5; done');
    const lines: OutputLine[] = [];
    let opId = '';
    const off = fleet.onOutput.on((e) => e.op === opId && lines.push(...e.lines));
    await bed.setVersion('h2', '24.05.3');
    await fleet.runOp('h2', 'pull', {});
    const running = fleet.runOp('h2', 'force-rebuild', {}, { onStarted: (o) => (opId = o.id) });
    await until('hook output streaming', () => lines.some((l) => /hook line 2/.test(l.text)), 30_000);
    const old = agents.get('h2')!;
    await old.kill9();
    await until('h2 offline', () => fleet.host('h2')!.connection === 'offline', 10_000);
    // Offline hosts keep their last known state, with the reason.
    assert.ok(fleet.host('h2')!.generations?.length && fleet.host('h2')!.status, 'last known state kept');
    assert.ok(fleet.host('h2')!.problem);
    agents.set('h2', await startAgent(bed, 'h2', { port: old.port }));
    const op = await running;
    off();
    bed.setHook('h2', null);
    assert.equal(op.state, 'succeeded', op.error);
    assert.deepEqual(lines.map((l) => l.seq), Array.from({ length: op.lastSeq }, (_, i) => i + 1), 'each seq exactly once');
    for (let i = 1; i <= 6; i++) assert.ok(lines.some((l) => l.text.includes(`hook line ${i}`)), `hook line ${i}`);
  });

  it('rollback to a chosen generation moves the profile on disk', async () => {
    const gens = fleet.host('h1')!.generations!;
    const target = gens.filter((g) => !g.current && g.present).sort((a, b) => a.generation - b.generation)[0]!;
    const op = await fleet.runOp('h1', 'rollback', { to: target.generation });
    assert.equal(op.state, 'succeeded', op.error);
    assert.equal(profileGeneration(bed.host('h1').profile), target.generation);
    await until('current generation in the snapshot', () => fleet.host('h1')!.generations!.find((g) => g.current)?.generation === target.generation);
  });

  it('ops started by another client (CLI, another window) show up live in the host log', async () => {
    const other = connect(agents.get('h1')!, bed.token);
    await other.connect();
    const seen: OutputLine[] = [];
    const started: string[] = [];
    const ended: OpInfo[] = [];
    const offs = [
      fleet.onOpStart.on((e) => e.op.id === 'foreign-test-1' && started.push(e.op.kind)),
      fleet.onOutput.on((e) => e.op === 'foreign-test-1' && seen.push(...e.lines)),
      fleet.onOpEnd.on((e) => e.op.id === 'foreign-test-1' && ended.push(e.op)),
    ];
    try {
      await other.startOp('foreign-test-1', 'test', {});
      const end = await until('the foreign op ended in the fleet', () => ended[0], 30_000);
      assert.deepEqual(started, ['test']);
      assert.ok(end.lastSeq > 0);
      assert.deepEqual(seen.map((l) => l.seq), Array.from({ length: end.lastSeq }, (_, i) => i + 1));
    } finally {
      offs.forEach((o) => o());
      other.close();
    }
  });

  it('magic rollback: the fleet confirms over a new connection; when it cannot, the host rolls back by itself', async () => {
    // Agents with a short confirmation window for this test.
    await agents.get('h1')!.stop();
    agents.set('h1', await startAgent(bed, 'h1', { port: agents.get('h1')!.port, overrides: { confirmTimeout: 4 } }));
    await until('h1 online again', () => fleet.host('h1')!.connection === 'online', 15_000);
    const notices: string[] = [];
    const offNotice = fleet.onNotice.on((n) => n.host === 'h1' && notices.push(n.text));
    await bed.setVersion('h1', '24.05.4');
    await fleet.runOp('h1', 'pull', {});
    const before = profileGeneration(bed.host('h1').profile);
    const ok = await fleet.runOp('h1', 'switch', {}, { magicRollback: true });
    assert.equal(ok.state, 'succeeded', ok.error);
    assert.equal(profileGeneration(bed.host('h1').profile), ok.result!.generationAfter);
    assert.notEqual(ok.result!.generationAfter, before);
    assert.ok(notices.some((t) => /confirmed op .* over a new connection/.test(t)), notices.join('\n'));

    // A controller that cannot open a new connection (as when the switch broke the network).
    let opened = 0;
    const cut = new Fleet({
      openSession: (entry, endpoint, token) =>
        opened++ === 0
          ? openAgentSession({ entry, endpoint, token, clientName: 'fleet-test', clientVersion: '1' })
          : openAgentSession({ entry, endpoint: { kind: 'ws', url: 'ws://127.0.0.1:9/' }, token, clientName: 'fleet-test', clientVersion: '1' }),
      getToken: async () => bed.token,
    });
    cut.configure([{ name: 'h1', address: agents.get('h1')!.url, platform: 'nixos' }], [], []);
    await cut.start();
    const cutNotices: string[] = [];
    cut.onNotice.on((n) => cutNotices.push(n.text));
    await bed.setVersion('h1', '24.05.5');
    await cut.runOp('h1', 'pull', {});
    const mid = profileGeneration(bed.host('h1').profile);
    const back = await cut.runOp('h1', 'switch', {}, { magicRollback: true });
    cut.dispose();
    offNotice();
    assert.equal(back.state, 'failed');
    assert.match(back.error!, /rolled back automatically/);
    assert.equal(profileGeneration(bed.host('h1').profile), mid, 'back on the generation from before the switch');
    assert.ok(cutNotices.some((t) => /could not confirm/.test(t)), cutNotices.join('\n'));
  });

  it('a new window replays the recent ops of a host from their journals, each line once', async () => {
    const fresh = new Fleet({
      openSession: (entry, endpoint, token) => openAgentSession({ entry, endpoint, token, clientName: 'fleet-test-2', clientVersion: '1' }),
      getToken: async () => bed.token,
    });
    fresh.configure([{ name: 'h2', address: agents.get('h2')!.url, platform: 'nixos' }], [], []);
    await fresh.start();
    const byOp = new Map<string, number[]>();
    const ended: OpInfo[] = [];
    fresh.onOutput.on((e) => byOp.set(e.op, [...(byOp.get(e.op) ?? []), ...e.lines.map((l) => l.seq)]));
    fresh.onOpEnd.on((e) => ended.push(e.op));
    const replayed = await fresh.replayRecent('h2', 2);
    assert.equal(replayed.length, 2);
    for (const op of ended) assert.deepEqual(byOp.get(op.id), Array.from({ length: op.lastSeq }, (_, i) => i + 1), op.id);
    assert.deepEqual(ended.map((o) => o.id).sort(), replayed.map((o) => o.id).sort());
    assert.deepEqual(await fresh.replayRecent('h2', 2), [], 'nothing shown twice');
    fresh.dispose();
  });

  it('a wrong token: mutating ops are refused with what to do', async () => {
    tokens.h1 = 'wrong-token-wrong-token-wrong';
    await fleet.reconnect('h1');
    await assert.rejects(fleet.runOp('h1', 'test', {}), /h1.*(token|unauthori)/i);
    tokens.h1 = bed.token;
    await fleet.reconnect('h1');
    await until('h1 back online', () => fleet.host('h1')!.connection === 'online');
  });
});
