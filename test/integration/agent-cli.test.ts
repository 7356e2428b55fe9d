// The CLI contract (`nixfleet-agent <command> --config FILE [--json]`) and the stdio
// transport, against the real-Nix test bed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { generation, hostStatus, MAX_FRAME_BYTES, opInfo } from '../../protocol';
import { AgentClient } from '../../src/fleet/agentClient';
import { CommandTransport } from '../../src/fleet/transportCommand';
import { createTestBed, type TestBed } from '../fixtures/testbed';
import { AGENT_JS, cli, waitFor } from './agent-harness';
import { readFileSync } from 'node:fs';
import path from 'node:path';

let bed: TestBed;
let config: string;
before(async () => {
  bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  config = bed.writeConfig('h1');
});
after(async () => {
  await bed?.cleanup();
});

const oneSentence = (stderr: string) => {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got: ${stderr}`);
  assert.match(lines[0]!, /^nixfleet-agent: .{10,}/);
};

describe('CLI contract', () => {
  test('switch, then generations --json and status --json have the documented shapes', () => {
    const sw = cli(bed, ['switch', '--config', config, '--op-id', 'cli-sw-1', '--json']);
    assert.equal(sw.status, 0, sw.stderr);
    const op = opInfo.parse(JSON.parse(sw.stdout));
    assert.equal(op.state, 'succeeded');
    assert.equal(op.id, 'cli-sw-1');
    assert.equal(op.client.auth.startsWith('cli:'), true);
    assert.match(sw.stderr, /switch-to-configuration: activated/);

    const gens = cli(bed, ['generations', '--config', config, '--json']);
    assert.equal(gens.status, 0, gens.stderr);
    const list = JSON.parse(gens.stdout) as unknown[];
    assert.ok(Array.isArray(list) && list.length >= 1);
    for (const g of list) {
      const parsed = generation.parse(g);
      assert.equal(new Date(parsed.createdAt).toISOString(), parsed.createdAt);
    }
    assert.equal(list.filter((g) => (g as { current: boolean }).current).length, 1);

    const st = cli(bed, ['status', '--config', config, '--json']);
    assert.equal(st.status, 0, st.stderr);
    const status = hostStatus.parse(JSON.parse(st.stdout));
    assert.equal(status.currentGeneration, op.result?.generationAfter);
    const human = cli(bed, ['status', '--config', config]);
    assert.match(human.stdout, /^host {10}h1 \(nixos/m);
  });

  test('ops --json lists newest first; log prints the journal; log --json gives op and lines', () => {
    const t = cli(bed, ['test', '--config', config, '--op-id', 'cli-test-1']);
    assert.equal(t.status, 0, t.stderr);
    const ops = JSON.parse(cli(bed, ['ops', '--config', config, '--json']).stdout) as { id: string }[];
    assert.deepEqual(ops.slice(0, 2).map((o) => o.id), ['cli-test-1', 'cli-sw-1']);
    const log = cli(bed, ['log', 'cli-sw-1', '--config', config]);
    assert.equal(log.status, 0);
    assert.match(log.stderr + log.stdout, /switch cli-sw-1 on h1 succeeded/);
    const lj = JSON.parse(cli(bed, ['log', 'cli-sw-1', '--config', config, '--json', '--from-seq', '2']).stdout) as { op: { lastSeq: number }; lines: { seq: number }[] };
    assert.equal(lj.lines[0]!.seq, 3);
    assert.equal(lj.lines[lj.lines.length - 1]!.seq, lj.op.lastSeq);
  });

  test('a failing op exits 1 with its error on stderr; usage errors exit 2 with one sentence', () => {
    const rb = cli(bed, ['rollback', '--to', '999', '--config', config]);
    assert.equal(rb.status, 1);
    assert.match(rb.stderr, /nixfleet-agent: host h1: generation 999 does not exist/);
    for (const args of [
      ['frobnicate', '--config', config],
      ['rollback', '--to', '1;reboot', '--config', config],
      ['switch', '--no-such-flag', '--config', config],
      ['status'],
      ['log', '--config', config],
      ['switch', '--config', config, '--op-id', '../x'],
      ['status', '--config', '/nonexistent/agent.json'],
    ]) {
      const r = cli(bed, args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      oneSentence(r.stderr);
    }
    const bad = cli(bed, ['status', '--config', config, '--host', 'h1;rm']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /host must be a flake attribute name/);
    const unknownOp = cli(bed, ['log', 'nope', '--config', config]);
    assert.equal(unknownOp.status, 1);
    oneSentence(unknownOp.stderr);
  });

  test('--help per command and config flag overrides', () => {
    const h = cli(bed, ['--help']);
    assert.equal(h.status, 0);
    for (const c of ['serve', 'stdio', 'status', 'generations', 'switch', 'force-rebuild', 'rollback', 'test', 'self-update', 'ops', 'log']) {
      assert.match(h.stdout, new RegExp(`^  ${c} `, 'm'));
      const ch = cli(bed, [c, '--help']);
      assert.equal(ch.status, 0);
      assert.match(ch.stdout, new RegExp(`^nixfleet-agent ${c} `));
    }
    assert.match(cli(bed, ['rollback', '--help']).stdout, /--to N/);
    assert.match(cli(bed, ['force-rebuild', '--help']).stdout, /--from-source/);
    // --state-dir overrides the config file's stateDir: an empty one has no ops.
    const other = cli(bed, ['ops', '--config', config, '--state-dir', bed.root + '/empty-state', '--json']);
    assert.equal(other.status, 0, other.stderr);
    assert.deepEqual(JSON.parse(other.stdout), []);
  });

  test('a CLI op and an agent-run op share the lock: the second is busy', async () => {
    bed.setHook('h1', 'sleep 2\n');
    try {
      const first = spawn(process.execPath, [AGENT_JS, 'switch', '--config', config, '--op-id', 'cli-long'], { env: bed.env, stdio: 'ignore' });
      const exited = once(first, 'exit');
      await waitFor('the first op to hold the lock', () => {
        try {
          return JSON.parse(readFileSync(path.join(bed.host('h1').stateDir, 'lock'), 'utf8')).op === 'cli-long';
        } catch {
          return false;
        }
      }, 30_000);
      const second = cli(bed, ['rollback', '--config', config]);
      assert.equal(second.status, 1);
      assert.match(second.stderr, /^nixfleet-agent: busy: switch cli-long running since /);
      const [code] = await exited;
      assert.equal(code, 0);
    } finally {
      bed.setHook('h1', null);
    }
  });
});

describe('stdio transport', () => {
  test('the same protocol over stdin/stdout: handshake, status, an op followed to the end', async () => {
    const c = new AgentClient({
      transport: () => new CommandTransport({ argv: [process.execPath, AGENT_JS, 'stdio', '--config', config], env: bed.env }),
      clientName: 'stdio-test',
      reconnect: false,
    });
    const w = await c.connect();
    assert.equal(w.host, 'h1');
    assert.equal((await c.status()).host, 'h1');
    await c.startOp('stdio-sw', 'switch', {});
    const { op, lines } = await c.follow('stdio-sw');
    assert.equal(op.state, 'succeeded', op.error);
    assert.equal(op.client.auth.startsWith('stdio:'), true);
    assert.equal(lines.length, op.lastSeq);
    c.close();
  });

  test('bad and oversize lines get errors and the session goes on', async () => {
    const p = spawn(process.execPath, [AGENT_JS, 'stdio', '--config', config], { env: bed.env, stdio: ['pipe', 'pipe', 'inherit'] });
    const rl = createInterface({ input: p.stdout! });
    const frames: Record<string, unknown>[] = [];
    rl.on('line', (l) => frames.push(JSON.parse(l)));
    const waitN = async (n: number) => {
      for (let i = 0; i < 400 && frames.length < n; i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(frames.length >= n, `expected ${n} frames, got ${JSON.stringify(frames)}`);
    };
    p.stdin!.write(JSON.stringify({ type: 'hello', protocol: 1, client: { name: 'raw', version: '1' } }) + '\n');
    await waitN(1);
    assert.equal(frames[0]!.type, 'welcome');
    p.stdin!.write('{"type":"status","id":1,"pad":"' + 'x'.repeat(MAX_FRAME_BYTES + 10) + '"}\n');
    p.stdin!.write('garbage\n');
    p.stdin!.write(JSON.stringify({ type: 'status', id: 2 }) + '\n');
    await waitN(4);
    assert.equal((frames[1]!.error as { code: string }).code, 'frame-too-large');
    assert.equal((frames[2]!.error as { code: string }).code, 'bad-frame');
    assert.equal(frames[3]!.type, 'result');
    assert.equal(frames[3]!.id, 2);
    p.stdin!.end();
    const [code] = await once(p, 'exit');
    assert.equal(code, 0);
  });
});
