// Protocol fuzz: random bytes, random JSON, mutated valid messages (keys dropped, wrong
// types, unknown keys, prototype keys, huge numbers, metacharacters, text-level flips and
// truncations), deep nesting, and oversize frames, over WebSocket (welcomed and not yet
// welcomed connections) and over `nixfleet-agent stdio`. Every frame must be answered by
// exactly one well-formed `error` or `result` (or `welcome`), or, for oversize frames
// over WebSocket, a close; the agent must stay alive and keep answering status.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { MAX_FRAME_BYTES, agentMessage } from '../../../protocol';
import { createTestBed } from '../../fixtures/testbed';
import { AGENT_JS } from '../../integration/agent-harness';
import { Tally, check, killWorkers, opDirs, rng, sleep, startAgent, stopAllAgents, type Scenario } from '../lib';

type Rand = () => number;

const BASES: Record<string, unknown>[] = [
  { type: 'status', id: 1 },
  { type: 'generations', id: 'g' },
  { type: 'ops.list', id: 3, limit: 5 },
  { type: 'op.subscribe', id: 4, op: 'nope', fromSeq: 0 },
  { type: 'op.unsubscribe', id: 5, op: 'nope' },
  { type: 'op.cancel', id: 6, op: 'nope' },
  { type: 'op.confirm', id: 7, op: 'nope' },
  { type: 'op.start', id: 8, op: 'fuzz-op', kind: 'test', params: {} },
  { type: 'op.start', id: 9, op: 'fuzz-rb', kind: 'rollback', params: { to: 99999 } },
  { type: 'op.start', id: 10, op: 'fuzz-pull', kind: 'pull', params: { ref: 'main' } },
  { type: 'hello', protocol: 1, client: { name: 'fuzz', version: '1' } },
];

const NASTY_STRINGS = ['', ' ', '\u0000', '$(touch /tmp/x)', '../../etc/passwd', 'a'.repeat(70), '\n\r', '\ud800', '🦀', '%s%n', '-rf', '__proto__', 'x'.repeat(5000)];

function pick<T>(r: Rand, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function randomValue(r: Rand, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 2 ? 6 : 8));
  switch (k) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return pick(r, [0, -1, 1.5, 2 ** 53, -(2 ** 31), 1e308, Number.MAX_SAFE_INTEGER + 2]);
    case 3:
      return pick(r, NASTY_STRINGS);
    case 4:
      return Math.floor(r() * 100);
    case 5:
      return String.fromCharCode(...Array.from({ length: Math.floor(r() * 20) }, () => Math.floor(r() * 0xffff)));
    case 6:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 4); i > 0; i--) o[pick(r, ['type', 'id', 'op', 'kind', 'params', 'x', '__proto__', 'constructor'])] = randomValue(r, depth + 1);
      return o;
    }
  }
}

function mutate(r: Rand, base: Record<string, unknown>): Record<string, unknown> {
  const m: Record<string, unknown> = structuredClone(base);
  for (let n = 1 + Math.floor(r() * 3); n > 0; n--) {
    const keys = Object.keys(m);
    const k = Math.floor(r() * 7);
    if (k === 0 && keys.length) delete m[pick(r, keys)];
    else if (k === 1 && keys.length) m[pick(r, keys)] = randomValue(r);
    else if (k === 2) m[pick(r, ['extra', 'token', 'auth', '__proto__', 'constructor', 'prototype'])] = randomValue(r);
    else if (k === 3) m.type = pick(r, ['status', 'op.start', 'hello', 'op.output', 'result', 'welcome', 'STATUS', '', 7]);
    else if (k === 4) m.id = randomValue(r);
    else if (k === 5 && m.params && typeof m.params === 'object') (m.params as Record<string, unknown>)[pick(r, ['rev', 'ref', 'to', 'input', 'confirmOld', 'x'])] = randomValue(r);
    else if (k === 6 && typeof m.op === 'string') m.op = pick(r, NASTY_STRINGS);
  }
  return m;
}

function textMutate(r: Rand, text: string): string {
  const k = Math.floor(r() * 4);
  const at = Math.floor(r() * (text.length + 1));
  if (k === 0) return text.slice(0, at);
  if (k === 1) return text.slice(0, at) + String.fromCharCode(Math.floor(r() * 128)) + text.slice(at + 1);
  if (k === 2) return text.slice(0, at) + pick(r, ['"', '{', '}', ',', '\\', '\\u0000', 'null']) + text.slice(at);
  return text + text;
}

/** One fuzz frame: text, or bytes for WebSocket binary frames. */
function frame(r: Rand, allowHello: boolean): string | Buffer {
  const k = r();
  let out: string | Buffer;
  if (k < 0.1) out = Buffer.from(Array.from({ length: Math.floor(r() * 300) }, () => Math.floor(r() * 256)));
  else if (k < 0.25) out = JSON.stringify(randomValue(r));
  else if (k < 0.3) out = pick(r, ['[', '{', '{"a":'])!.repeat(1 + Math.floor(r() * 50_000));
  else if (k < 0.75) out = JSON.stringify(mutate(r, pick(r, BASES)));
  else out = textMutate(r, JSON.stringify(mutate(r, pick(r, BASES))));
  if (!allowHello && (typeof out === 'string' ? out : out.toString('latin1')).includes('hello')) return JSON.stringify({ type: 'status' });
  return out;
}

/** A WebSocket client that counts the answers (error/result/welcome) and checks each one's shape. */
class Counter {
  answers = 0;
  /** The answers of the current batch, shown when a batch does not add up. */
  log: string[] = [];
  malformed: string[] = [];
  closed: number | undefined;
  private waiters: (() => void)[] = [];
  syncSeen = new Set<string>();
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const text = d.toString();
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(text) as Record<string, unknown>;
      } catch {
        this.malformed.push(text.slice(0, 200));
        return;
      }
      const parsed = agentMessage.safeParse(msg);
      if (!parsed.success) this.malformed.push(text.slice(0, 200));
      if (msg.type === 'result' && typeof msg.id === 'string' && msg.id.startsWith('sync-')) this.syncSeen.add(msg.id);
      else if (msg.type === 'error' || msg.type === 'result' || msg.type === 'welcome') {
        this.answers++;
        this.log.push(text.slice(0, 160));
        if (msg.type === 'error') {
          const e = msg.error as { message?: string } | undefined;
          if (!e?.message || e.message.length < 10) this.malformed.push(`unclear error: ${text.slice(0, 200)}`);
        }
      }
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('close', (code) => {
      this.closed = code;
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('error', () => {});
  }
  async until(pred: () => boolean, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) return false;
      await new Promise<void>((res) => {
        const t = setTimeout(res, 50);
        this.waiters.push(() => (clearTimeout(t), res()));
      });
    }
    return true;
  }
}

async function open(url: string, token: string, hello: boolean): Promise<Counter> {
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, maxPayload: 64 * 1024 * 1024 });
  await once(ws, 'open');
  const c = new Counter(ws);
  if (hello) {
    ws.send(JSON.stringify({ type: 'hello', protocol: 1, client: { name: 'fuzz', version: '1' } }));
    check(await c.until(() => c.answers === 1, 10_000), 'no welcome');
    c.answers = 0;
  }
  return c;
}

export const fuzzScenario: Scenario = {
  name: 'protocol-fuzz',
  async run(ctx) {
    const total = ctx.quick ? 10_000 : 100_000;
    const r = rng(Number(process.env.NIXFLEET_RELIABILITY_SEED) + 4);
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    const tally = new Tally(ctx);
    const agent = await startAgent(bed, 'h1');
    let sent = 0;
    let oversize = 0;
    let batches = 0;
    let stdioFrames = 0;
    // Frames that could start an op: any op directory must be named by one of them.
    const startFrames: string[] = [];
    const t0 = Date.now();
    try {
      // ---- WebSocket: batches of frames, each batch followed by a sync status request.
      let conn = await open(agent.url, bed.token, true);
      let connPreHello = false;
      const BATCH = 250;
      while (sent < total) {
        batches++;
        const preHello = batches % 10 === 0;
        const oversizeBatch = batches % 40 === 0;
        // A fresh connection for pre-hello batches, and after one (it may still be unwelcomed).
        if (preHello || oversizeBatch || connPreHello || conn.closed !== undefined) {
          conn.ws.terminate();
          conn = await open(agent.url, bed.token, !preHello);
          connPreHello = preHello;
        }
        if (oversizeBatch) {
          // One frame past the limit: the WebSocket layer refuses it with 1009 and closes.
          await tally.trial(`oversize frame (batch ${batches})`, async () => {
            sent++;
            oversize++;
            conn.ws.send(Buffer.alloc(MAX_FRAME_BYTES + 1 + Math.floor(r() * 1000), 0x7b));
            check(await conn.until(() => conn.closed !== undefined || conn.answers > 0, 10_000), 'oversize frame neither answered nor closed');
            check(conn.closed === undefined || conn.closed === 1009, `closed with ${conn.closed}, expected 1009 (message too big)`);
            check(agent.proc.exitCode === null && agent.proc.signalCode === null, 'the agent died');
          });
          continue;
        }
        const n = Math.min(BATCH, total - sent);
        const frames = Array.from({ length: n }, () => frame(r, !preHello));
        conn.answers = 0;
        conn.log = [];
        const label = `batch ${batches} (${preHello ? 'before hello' : 'welcomed'})`;
        const before = conn.malformed.length;
        for (const f of frames) {
          conn.ws.send(f);
          if (typeof f === 'string' && f.includes('op.start')) startFrames.push(f);
        }
        sent += n;
        const syncId = `sync-${batches}`;
        // A sync request only works once welcomed; before hello, count answers only.
        if (!preHello) conn.ws.send(JSON.stringify({ type: 'status', id: syncId }));
        const ok = await conn.until(() => conn.closed !== undefined || (conn.answers >= n && (preHello || conn.syncSeen.has(syncId))), 30_000);
        await sleep(conn.answers === n ? 0 : 200); // let stragglers arrive so duplicates show
        // Every frame is a trial; the failures are the frames not answered exactly once.
        const missing = Math.abs(n - conn.answers);
        const bad = conn.malformed.length - before;
        tally.trials += n - 1;
        await tally.trial(label, async () => {
          check(agent.proc.exitCode === null && agent.proc.signalCode === null, `the agent died: ${agent.stderr().slice(-500)}`);
          check(conn.closed === undefined, `the agent closed the connection (code ${conn.closed}) on ordinary frames`);
          if (missing) {
            // Keep the evidence: the batch's frames and the answers, side by side.
            const file = path.join(tmpdir(), `nixfleet-fuzz-seed${process.env.NIXFLEET_RELIABILITY_SEED}-batch${batches}.json`);
            writeFileSync(file, JSON.stringify({ frames: frames.map((f) => (typeof f === 'string' ? f.slice(0, 400) : `<${f.length} bytes>`)), answers: conn.log }, null, 1));
            ctx.note(`batch ${batches}: frames and answers in ${file}`);
          }
          check(ok && missing === 0, `${n} frames got ${conn.answers} answers`);
          check(bad === 0, `malformed answers: ${conn.malformed.slice(before, before + 2).join(' / ')}`);
        });
        if (missing || bad) tally.failures += Math.min(n - 1, missing + bad - 1);
      }
      conn.ws.terminate();

      // ---- stdio: the same frames as lines (no newline inside), plus one oversize line.
      const stdioCount = ctx.quick ? 1000 : 10_000;
      const proc = spawn(process.execPath, [AGENT_JS, 'stdio', '--config', bed.writeConfig('h1')], { env: bed.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let answers = 0;
      let malformed = 0;
      let statusOk = false;
      createInterface({ input: proc.stdout! }).on('line', (l) => {
        let m: Record<string, unknown>;
        try {
          m = JSON.parse(l) as Record<string, unknown>;
        } catch {
          malformed++;
          return;
        }
        if (!agentMessage.safeParse(m).success) malformed++;
        if (m.type === 'result' && m.id === 'stdio-final') statusOk = true;
        else if (m.type === 'error' || m.type === 'result' || m.type === 'welcome') answers++;
      });
      let expected = 0;
      const lines: string[] = [JSON.stringify({ type: 'hello', protocol: 1, client: { name: 'fuzz-stdio', version: '1' } })];
      for (let i = 0; i < stdioCount; i++) {
        const f = frame(r, false);
        const text = (typeof f === 'string' ? f : f.toString('utf8')).replace(/[\n\r]/g, ' ');
        if (!text.trim()) continue;
        lines.push(text);
        if (text.includes('op.start')) startFrames.push(text);
      }
      lines.push('x'.repeat(MAX_FRAME_BYTES + 10));
      expected = lines.length;
      for (const l of lines) if (!proc.stdin!.write(l + '\n')) await once(proc.stdin!, 'drain');
      proc.stdin!.write(JSON.stringify({ type: 'status', id: 'stdio-final' }) + '\n');
      stdioFrames = lines.length;
      const end = Date.now() + 60_000;
      while (!(statusOk && answers >= expected) && Date.now() < end && proc.exitCode === null) await sleep(50);
      tally.trials += lines.length - 1;
      await tally.trial('stdio fuzz', async () => {
        check(proc.exitCode === null, `stdio agent exited with ${proc.exitCode}`);
        check(statusOk, 'status was not answered after the fuzz');
        check(answers === expected, `${expected} lines got ${answers} answers`);
        check(malformed === 0, `${malformed} malformed answers`);
      });
      proc.stdin!.end();
      await Promise.race([once(proc, 'exit'), sleep(5000)]);
      if (proc.exitCode === null) proc.kill('SIGKILL');

      // ---- afterwards: alive, answering, and no op ran that the fuzz could not have asked for.
      await tally.trial('agent alive after the fuzz', async () => {
        check(agent.proc.exitCode === null && agent.proc.signalCode === null, 'the agent died');
        const c = await open(agent.url, bed.token, true);
        c.ws.send(JSON.stringify({ type: 'status', id: 'sync-final' }));
        check(await c.until(() => c.syncSeen.has('sync-final'), 10_000), 'status not answered after the fuzz');
        c.ws.terminate();
        const unexpected = opDirs(h.stateDir).filter((d) => !startFrames.some((f) => f.includes(`"op":"${d}"`)));
        check(unexpected.length === 0, `ops no op.start frame named exist: ${unexpected.slice(0, 5).join(', ')}`);
      });
    } finally {
      await stopAllAgents();
      killWorkers(h.stateDir);
      await bed.cleanup();
    }
    const secs = (Date.now() - t0) / 1000;
    return tally.outcome(`${sent} WebSocket frames (${oversize} oversize) + ${stdioFrames} stdio lines in ${secs.toFixed(1)} s`);
  },
};
