// Durability: the agent killed mid-op (the detached worker runs on, a restarted agent
// re-attaches and the client gets the whole log), a force-rebuild whose activation
// restarts the agent (versions before/after recorded), a worker killed with the agent
// (interrupted), and resumed subscriptions across cut connections (no gap, no duplicate).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { OpInfo, OutputLine } from '../../protocol';
import { readAllLines } from '../../agent/journal/reader';
import { readAudit } from '../../agent/journal/audit';
import { blockingNixEnv } from '../fixtures/blockingNixEnv';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, cli, connect, RawClient, ROOT, startAgent, waitFor } from './agent-harness';

let bed: TestBed;
before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
});
after(async () => {
  await bed?.cleanup();
});

const journalOf = (opId: string) => path.join(bed.host('h1').stateDir, 'ops', opId, 'journal.jsonl');
const workerPid = (opId: string) => (JSON.parse(readFileSync(path.join(bed.host('h1').stateDir, 'ops', opId, 'worker.json'), 'utf8')) as { pid: number }).pid;
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function assertComplete(lines: OutputLine[], lastSeq: number): void {
  assert.equal(lines.length, lastSeq, 'one line per seq');
  lines.forEach((l, i) => assert.equal(l.seq, i + 1, `line ${i} has seq ${l.seq}`));
}

/** A loopback TCP relay whose connections the test can cut, like a dropped network. */
async function relay(targetPort: () => number): Promise<{ port: number; cut(): void; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((a) => {
    const b = net.connect(targetPort(), '127.0.0.1');
    sockets.add(a).add(b);
    a.pipe(b).pipe(a);
    const drop = () => (a.destroy(), b.destroy(), sockets.delete(a), sockets.delete(b));
    a.on('error', drop).on('close', drop);
    b.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut: () => sockets.forEach((s) => s.destroy()),
    close: () => (sockets.forEach((s) => s.destroy()), server.close()),
  };
}

describe('agent restarts and dropped connections', () => {
  test('kill -9 of the agent mid-op: the worker continues, a restarted agent re-attaches, the client gets the full log', async () => {
    bed.setHook('h1', 'i=1; while [ $i -le 300 ]; do echo "hook line $i"; i=$((i+1)); sleep 0.005; done\n');
    let agent = await startAgent(bed, 'h1');
    const port = agent.port;
    const c = connect(agent, bed.token);
    try {
      await c.connect();
      await c.startOp('k9-1', 'switch', {});
      let seen = 0;
      const all: OutputLine[] = [];
      const done = c.follow('k9-1', (ls) => {
        all.push(...ls);
        seen += ls.filter((l) => l.text.startsWith('hook line')).length;
      });
      await waitFor('some hook output', () => seen >= 30, 30_000);
      await agent.kill9();
      const pid = workerPid('k9-1');
      assert.ok(alive(pid), 'the worker outlived the agent');
      await new Promise((r) => setTimeout(r, 300));
      agent = await startAgent(bed, 'h1', { port });
      const { op } = await done;
      assert.equal(op.state, 'succeeded', op.error);
      assertComplete(all, op.lastSeq);
      assert.deepEqual(all, await readAllLines(journalOf('k9-1')));
      const hook = all.filter((l) => l.text.startsWith('hook line')).map((l) => l.text);
      assert.deepEqual(hook, Array.from({ length: 300 }, (_, i) => `hook line ${i + 1}`));
    } finally {
      bed.setHook('h1', null);
      c.close();
      await agent.stop();
    }
  });

  test('an op whose worker died with the agent is marked interrupted on restart, the lock is freed and audited', async () => {
    bed.setHook('h1', 'echo started; sleep 60\n');
    let agent = await startAgent(bed, 'h1');
    const port = agent.port;
    try {
      const c = connect(agent, bed.token, { reconnect: false });
      await c.connect();
      await c.startOp('dead-1', 'switch', {});
      await waitFor('activation', async () => (await readAllLines(journalOf('dead-1'))).some((l) => l.text === 'started'), 30_000);
      c.close();
      await agent.kill9();
      process.kill(-workerPid('dead-1'), 'SIGKILL');
      await waitFor('worker gone', () => !alive(workerPid('dead-1')));
      agent = await startAgent(bed, 'h1', { port });
      const c2 = connect(agent, bed.token);
      await c2.connect();
      const { op, lines } = await c2.follow('dead-1');
      assert.equal(op.state, 'interrupted');
      assert.match(op.error ?? '', /interrupted on host h1: its worker process \(pid \d+\) ended without recording a result/);
      assertComplete(lines, op.lastSeq);
      assert.equal((await c2.status()).busy, undefined);
      const audit = readAudit(bed.host('h1').stateDir).filter((r) => r.op === 'dead-1');
      assert.equal(audit.length, 1);
      assert.equal(audit[0]!.outcome, 'interrupted');
      // The host is usable again.
      bed.setHook('h1', null);
      await c2.startOp('after-dead', 'switch', {});
      assert.equal((await c2.follow('after-dead')).op.state, 'succeeded');
      c2.close();
    } finally {
      bed.setHook('h1', null);
      await agent.stop();
    }
  });

  test('force-rebuild whose activation kills the agent: restarted (newer) agent delivers the full log, result and versions', async () => {
    // A second agent build with another version stands in for the updated agent.
    const newDist = mkdtempSync(path.join(tmpdir(), 'nixfleet-newagent-'));
    const b = spawnSync(process.execPath, ['scripts/build.mjs', '--only=agent', `--outdir=${newDist}`], {
      cwd: ROOT,
      env: { ...process.env, NIXFLEET_BUILD_VERSION: '9.9.9-restarted' },
      encoding: 'utf8',
    });
    assert.equal(b.status, 0, b.stderr);
    const pidFile = path.join(bed.root, 'agent.pid');
    let agent = await startAgent(bed, 'h1');
    const port = agent.port;
    const oldVersion = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
    writeFileSync(pidFile, String(agent.proc.pid));
    // Like NixOS' switch-to-configuration restarting nixfleet-agent.service mid-activation.
    bed.setHook('h1', `echo "restarting agent"; kill -9 $(cat ${pidFile}); i=1; while [ $i -le 50 ]; do echo "after restart $i"; i=$((i+1)); sleep 0.01; done\n`);
    const c = connect(agent, bed.token);
    try {
      await c.connect();
      const before = (await c.generations()).length;
      await c.startOp('fr-1', 'force-rebuild', {});
      const all: OutputLine[] = [];
      const done = c.follow('fr-1', (ls) => all.push(...ls));
      const code = await agent.exited; // the activation killed it
      assert.equal(code, null);
      // systemd's Restart=always, with the updated agent.
      agent = await startAgent(bed, 'h1', { port, agentJs: path.join(newDist, 'agent.js') });
      const { op } = await done;
      assert.equal(op.state, 'succeeded', op.error);
      assertComplete(all, op.lastSeq);
      assert.ok(all.some((l) => l.text === 'after restart 50'));
      assert.equal(op.result?.agentVersionBefore, oldVersion);
      assert.equal(op.result?.agentVersionAfter, '9.9.9-restarted');
      const status = await c.status();
      assert.equal(status.agentVersion, '9.9.9-restarted');
      assert.equal(op.result?.generationAfter, status.currentGeneration);
      assert.ok((await c.generations()).length >= before);
      const audit = readAudit(bed.host('h1').stateDir).filter((r) => r.op === 'fr-1');
      assert.deepEqual(
        audit.map((r) => [r.outcome, r.observed ?? false, r.agentVersionBefore, r.agentVersionAfter]),
        [
          ['succeeded', false, oldVersion, undefined], // the worker's, written before the restart
          ['succeeded', true, oldVersion, '9.9.9-restarted'], // the restarted agent's
        ],
      );
    } finally {
      bed.setHook('h1', null);
      c.close();
      await agent.stop();
      rmSync(newDist, { recursive: true, force: true });
    }
  });

  test('op.subscribe from a seq after a dropped connection: no gap, no duplicate', async () => {
    bed.setHook('h1', 'i=1; while [ $i -le 3000 ]; do echo "bulk $i"; i=$((i+1)); done; sleep 0.5\n');
    const agent = await startAgent(bed, 'h1');
    try {
      // Raw protocol: read part, drop, resume from the last seq seen on a new connection.
      const a = await RawClient.open(agent.url, bed.token);
      assert.equal((await a.request({ type: 'op.start', id: 1, op: 'resume-1', kind: 'switch', params: {} })).type, 'result');
      await a.request({ type: 'op.subscribe', id: 2, op: 'resume-1', fromSeq: 0 });
      await a.next((m) => m.type === 'op.output');
      a.close();
      const firstPart = a.frames.filter((m) => m.type === 'op.output').flatMap((m) => m.lines as OutputLine[]);
      const last = firstPart[firstPart.length - 1]!.seq;
      const b2 = await RawClient.open(agent.url, bed.token);
      await b2.request({ type: 'op.subscribe', id: 3, op: 'resume-1', fromSeq: last });
      const end = await b2.next((m) => m.type === 'op.end', 60_000);
      const rest = b2.frames.filter((m) => m.type === 'op.output').flatMap((m) => m.lines as OutputLine[]);
      assert.equal(rest[0]!.seq, last + 1);
      assertComplete([...firstPart, ...rest], (end.op as { lastSeq: number }).lastSeq);
      b2.close();

      // The client library across repeated cuts of the network path.
      const r = await relay(() => agent.port);
      const c = connect({ url: `ws://127.0.0.1:${r.port}` }, bed.token);
      await c.connect();
      bed.setHook('h1', 'i=1; while [ $i -le 2000 ]; do echo "bulk $i"; i=$((i+1)); [ $((i % 200)) -eq 0 ] && sleep 0.05; done\n');
      await c.startOp('resume-2', 'switch', {});
      const got: OutputLine[] = [];
      let cuts = 0;
      const done = c.follow('resume-2', (ls) => {
        got.push(...ls);
        if (cuts < 4 && got.length > (cuts + 1) * 300) {
          cuts++;
          r.cut();
        }
      });
      const { op } = await done;
      assert.ok(cuts >= 3, `only ${cuts} cuts happened`);
      assertComplete(got, op.lastSeq);
      assert.deepEqual(got, await readAllLines(journalOf('resume-2')));
      c.close();
      r.close();
    } finally {
      bed.setHook('h1', null);
      await agent.stop();
    }
  });
});

describe('a worker killed between setting the profile and activating', () => {
  test('kill -9 right after nix-env --set: the profile goes back to the generation the host runs, and the op says so', async () => {
    const h = bed.host('h1');
    const config = bed.writeConfig('h1');
    // A real point in the real path: nix-env on PATH runs the real nix-env, then (for --set,
    // while the marker exists) says where it is and blocks, so the profile is set and
    // activation has not started when the worker is killed.
    const { marker, reached, path: PATH, remove } = blockingNixEnv(bed);
    const env = { ...bed.env, PATH };
    try {
      const base = cli(bed, ['switch', '--config', config, '--op-id', 'set-base']);
      assert.equal(base.status, 0, base.stderr);
      const runs = (JSON.parse(cli(bed, ['status', '--config', config, '--json']).stdout) as { currentGeneration: number }).currentGeneration;
      const rev = await bed.setVersion('h1', '24.11.5');
      assert.equal(cli(bed, ['pull', '--config', config]).status, 0);
      const activationsBefore = bed.activations('h1').length;

      writeFileSync(marker, '');
      const sw = spawn(process.execPath, [AGENT_JS, 'switch', '--config', config, '--op-id', 'set-k9', '--rev', rev], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      sw.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const exited = new Promise<number | null>((resolve) => sw.once('close', (code) => resolve(code)));
      const wrapperPid = Number(await waitFor('nix-env --set done', () => existsSync(reached) && readFileSync(reached, 'utf8').trim(), 120_000));
      const setTo = Number(/-(\d+)-link$/.exec(readlinkSync(h.profile))![1]);
      assert.ok(setTo > runs, `the profile was set to a new generation (${setTo} after ${runs})`);
      process.kill(workerPid('set-k9'), 'SIGKILL');
      process.kill(wrapperPid, 'SIGKILL');

      assert.equal(await exited, 1, stderr);
      const said = new RegExp(`the worker was killed after the profile was set to generation ${setTo} and before it was activated; host h1 still runs generation ${runs}, so the agent switched the profile back to it`);
      assert.match(stderr, said);
      // On disk, and as status and generations tell it.
      assert.equal(readlinkSync(h.profile), `${path.basename(h.profile)}-${runs}-link`);
      const st = JSON.parse(cli(bed, ['status', '--config', config, '--json']).stdout) as { currentGeneration: number; busy?: unknown };
      assert.equal(st.currentGeneration, runs);
      assert.equal(st.busy, undefined);
      const gens = JSON.parse(cli(bed, ['generations', '--config', config, '--json']).stdout) as { generation: number; current: boolean }[];
      assert.deepEqual(gens.filter((g) => g.current).map((g) => g.generation), [runs]);
      assert.ok(gens.some((g) => g.generation === setTo && !g.current), 'the never-activated generation stays in the list');
      assert.equal(bed.activations('h1').length, activationsBefore, 'nothing was activated');
      // The op's record and journal.
      const op = JSON.parse(cli(bed, ['log', 'set-k9', '--config', config, '--json']).stdout) as { op: OpInfo; lines: OutputLine[] };
      assert.equal(op.op.state, 'interrupted');
      assert.match(op.op.error ?? '', said);
      assert.equal(op.op.result?.generationBefore, runs);
      assert.equal(op.op.result?.generationAfter, runs);
      assert.match(op.op.result?.message ?? '', said);
      assert.ok(op.lines.some((l) => l.text === `$ nix-env -p ${h.profile} --switch-generation ${runs}`), 'the switch back is in the journal');
      assert.match(op.lines.at(-1)!.text, said);
      assertComplete(op.lines, op.op.lastSeq);
      // And the host is usable: the same switch, run again, activates the new generation.
      rmSync(marker);
      const again = cli(bed, ['switch', '--config', config, '--op-id', 'set-again', '--rev', rev], env);
      assert.equal(again.status, 0, again.stderr);
      assert.equal(bed.activations('h1').length, activationsBefore + 1);
    } finally {
      remove();
    }
  });
});
