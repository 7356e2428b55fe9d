// Every number the agent takes, from a CLI flag, a config key or a protocol message,
// refused with one sentence that says what is wanted (no validation dumps).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { AGENT_JS } from './agent-harness';

let dir: string;
let config: string;
const base = () => ({ host: 'h1', flake: path.join(dir, 'nixcfg'), platform: 'nixos', stateDir: path.join(dir, 'state') });
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-numbers-'));
  config = path.join(dir, 'agent.json');
  writeFileSync(config, JSON.stringify(base()));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** One line, naming what is wanted; none of zod's own wording, no JSON dump. */
function assertSentence(text: string, wanted: RegExp, context: string): void {
  const lines = text.trim().split('\n');
  assert.equal(lines.length, 1, `${context}: one line, got ${JSON.stringify(text)}`);
  assert.match(lines[0]!, wanted, context);
  assert.doesNotMatch(lines[0]!, /Invalid input|Too (big|small)|expected (int|number)|received|\[$|problem\(s\)/, context);
}

test('bad numbers in CLI flags: exit 2 and one sentence', () => {
  const table: [string[], RegExp][] = [
    [['rollback', '--to', '2147483648'], /rollback: "2147483648" is not a generation number: give a whole number from 1 to 2147483647/],
    [['rollback', '--to', '0'], /generation number: give a whole number from 1/],
    [['rollback', '--to', '99999999999999999999'], /generation number/],
    [['rollback', '--to', '1e3'], /generation number/],
    [['rollback', '--to', '-1'], /rollback: --to needs a value/],
    [['rollback', '--to=-1'], /"-1" is not a generation number/],
    [['ops', '--limit', '0'], /ops: --limit takes a whole number of at least 1, not "0"/],
    [['ops', '--limit', '1e3'], /--limit takes a whole number/],
    [['ops', '--limit', '0x10'], /--limit takes a whole number/],
    [['ops', '--limit', ' 5'], /--limit takes a whole number/],
    [['ops', '--limit', '99999999999999999999'], /--limit takes a whole number/],
    [['log', 'some-op', '--from-seq', '1.5'], /--from-seq takes a whole number/],
    [['log', 'some-op', '--from-seq', '99999999999999999999'], /--from-seq takes a whole number/],
    [['status', '--confirm-timeout', '99999'], /--confirm-timeout: give a whole number of seconds from 0 to 3600/],
    [['status', '--confirm-timeout', '-1'], /--confirm-timeout takes a whole number/],
    [['status', '--health-check-timeout', '0'], /--health-check-timeout: give a whole number of seconds from 1 to 3600/],
    [['status', '--health-check-timeout', '99999999999999999999999'], /--health-check-timeout: give a whole number of seconds from 1 to 3600/],
    [['status', '--listen', '127.0.0.1:99999'], /--listen: listen port must be at most 65535/],
  ];
  for (const [args, wanted] of table) {
    const r = spawnSync(process.execPath, [AGENT_JS, ...args, '--config', config], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assertSentence(r.stderr, wanted, args.join(' '));
  }
});

test('bad numbers in the config file: one sentence naming the file and the key', () => {
  const table: [Record<string, unknown>, RegExp][] = [
    [{ confirmTimeout: 1.5 }, /agent-bad\.json: confirmTimeout: give a whole number of seconds from 0 to 3600/],
    [{ confirmTimeout: '30' }, /confirmTimeout: give a whole number of seconds/],
    [{ confirmTimeout: null }, /confirmTimeout: give a whole number of seconds/],
    [{ confirmTimeout: 3601 }, /confirmTimeout: give a whole number of seconds from 0 to 3600/],
    [{ healthCheckTimeout: -3 }, /healthCheckTimeout: give a whole number of seconds from 1 to 3600/],
    [{ healthCheckTimeout: 1e300 }, /healthCheckTimeout: give a whole number of seconds/],
    [{ listen: '127.0.0.1:70000' }, /listen: listen port must be at most 65535/],
  ];
  const file = path.join(dir, 'agent-bad.json');
  for (const [extra, wanted] of table) {
    writeFileSync(file, JSON.stringify({ ...base(), ...extra }));
    const r = spawnSync(process.execPath, [AGENT_JS, 'status', '--config', file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, `${JSON.stringify(extra)}: ${r.stderr}`);
    assertSentence(r.stderr, wanted, JSON.stringify(extra));
  }
});

test('bad numbers in protocol messages: an invalid error with one sentence, and the session goes on', async () => {
  const p = spawn(process.execPath, [AGENT_JS, 'stdio', '--config', config], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = createInterface({ input: p.stdout! });
  const frames: Record<string, unknown>[] = [];
  rl.on('line', (l) => frames.push(JSON.parse(l) as Record<string, unknown>));
  const next = async (n: number) => {
    for (let i = 0; i < 2400 && frames.length < n; i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(frames.length >= n, `expected ${n} frames, got ${JSON.stringify(frames)}`);
    return frames[n - 1]!;
  };
  try {
    p.stdin!.write(JSON.stringify({ type: 'hello', protocol: 1, client: { name: 'numbers', version: '1' } }) + '\n');
    assert.equal((await next(1)).type, 'welcome');
    const table: [object, RegExp][] = [
      [{ type: 'op.subscribe', id: 1, op: 'x', fromSeq: -1 }, /fromSeq: give a whole number of at least 0/],
      [{ type: 'op.subscribe', id: 2, op: 'x', fromSeq: 1.5 }, /fromSeq: give a whole number/],
      [{ type: 'op.subscribe', id: 3, op: 'x', fromSeq: 1e300 }, /fromSeq: give a whole number/],
      [{ type: 'ops.list', id: 4, limit: 0 }, /limit: give a whole number from 1 to 1000/],
      [{ type: 'ops.list', id: 5, limit: 1001 }, /limit: give a whole number from 1 to 1000/],
      [{ type: 'ops.list', id: 6, limit: '5' }, /limit: give a whole number from 1 to 1000/],
      [{ type: 'op.start', id: 7, op: 'rb-1', kind: 'rollback', params: { to: 2147483648 } }, /^host \S+: invalid parameters for rollback: to: give a whole number from 1 to 2147483647; nothing was run$/],
      [{ type: 'op.start', id: 8, op: 'rb-2', kind: 'rollback', params: { to: 0 } }, /^host \S+: invalid parameters for rollback: to: give a whole number from 1 to 2147483647; nothing was run$/],
      [{ type: 'op.start', id: 9, op: 'rb-3', kind: 'rollback', params: { to: 2.5 } }, /^host \S+: invalid parameters for rollback: to: give a whole number from 1 to 2147483647; nothing was run$/],
    ];
    let n = 1;
    for (const [msg, wanted] of table) {
      p.stdin!.write(JSON.stringify(msg) + '\n');
      const reply = (await next(++n)) as { type: string; error?: { code: string; message: string } };
      assert.equal(reply.type, 'error', JSON.stringify(reply));
      assert.equal(reply.error!.code, 'invalid', JSON.stringify(msg));
      assertSentence(reply.error!.message, wanted, JSON.stringify(msg));
    }
    p.stdin!.write(JSON.stringify({ type: 'ops.list', id: 99, limit: 5 }) + '\n');
    assert.equal((await next(++n)).type, 'result');
  } finally {
    p.kill();
  }
});
