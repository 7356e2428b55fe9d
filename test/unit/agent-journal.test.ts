// Journal writing/reading and the host lock, in process, on temp dirs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { MAX_LINE_CHARS, outputLine, type OutputLine } from '../../protocol';
import { readOutputFrame } from '../../agent/server/outputFrame';
import { JournalWriter } from '../../agent/journal/writer';
import { lastSeqOf, readAllLines, readChunk } from '../../agent/journal/reader';
import { listOps, writeOpInfo, createOpDir, readOpInfo } from '../../agent/journal/opStore';
import { acquireLock, BusyError, claimLock, readLock, releaseLock } from '../../agent/runner/lock';
import { lockFile } from '../../agent/journal/paths';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'nixfleet-journal-'));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

test('lines get consecutive seqs; newlines split; over-long lines are split, not dropped', async () => {
  const file = path.join(tmp(), 'journal.jsonl');
  const w = JournalWriter.open(file);
  w.append('stdout', 'one');
  w.append('stderr', 'two\nthree\n');
  w.append('info', 'x'.repeat(MAX_LINE_CHARS * 2 + 5));
  w.append('stdout', 'quote " backslash \\ tab \t ünïcode');
  w.close();
  const lines = await readAllLines(file);
  assert.deepEqual(lines.map((l) => l.seq), [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(lines.slice(0, 3).map((l) => [l.stream, l.text]), [['stdout', 'one'], ['stderr', 'two'], ['stderr', 'three']]);
  assert.equal(lines.slice(3, 6).map((l) => l.text).join(''), 'x'.repeat(MAX_LINE_CHARS * 2 + 5));
  assert.equal(lines[6]!.text, 'quote " backslash \\ tab \t ünïcode');
  assert.equal(lastSeqOf(file), 7);
  assert.deepEqual((await readAllLines(file, 5)).map((l) => l.seq), [6, 7]);
});

test('a torn final line is invisible to readers and cut off when the journal is reopened', async () => {
  const file = path.join(tmp(), 'journal.jsonl');
  const w = JournalWriter.open(file);
  w.append('stdout', 'a');
  w.append('stdout', 'b');
  w.close();
  appendFileSync(file, '{"seq":3,"stream":"stdout","te');
  const fh = await open(file, 'r');
  const chunk = await readChunk(fh, 0);
  await fh.close();
  assert.deepEqual(chunk.lines.map((l) => l.seq), [1, 2]);
  assert.equal(chunk.nextOffset, statSync(file).size - '{"seq":3,"stream":"stdout","te'.length);
  assert.equal(lastSeqOf(file), 2);
  const w2 = JournalWriter.open(file);
  assert.equal(w2.lastSeq, 2);
  w2.append('info', 'c');
  w2.close();
  assert.deepEqual((await readAllLines(file)).map((l) => [l.seq, l.text]), [[1, 'a'], [2, 'b'], [3, 'c']]);
});

test('a reader following a growing journal sees each line once', async () => {
  const file = path.join(tmp(), 'journal.jsonl');
  const w = JournalWriter.open(file);
  const fh = await open(file, 'r');
  let offset = 0;
  const seen: number[] = [];
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 37; i++) w.append('stdout', `r${round} l${i}`);
    if (round % 2) w.flush();
    const c = await readChunk(fh, offset, 4096);
    offset = c.nextOffset;
    seen.push(...c.lines.map((l) => l.seq));
  }
  w.close();
  for (;;) {
    const c = await readChunk(fh, offset, 4096);
    if (c.nextOffset === offset) break;
    offset = c.nextOffset;
    seen.push(...c.lines.map((l) => l.seq));
  }
  await fh.close();
  assert.deepEqual(seen, Array.from({ length: 50 * 37 }, (_, i) => i + 1));
});

test('ops are listed newest first and op.json is replaced whole', () => {
  const stateDir = tmp();
  const base = { kind: 'switch' as const, params: {}, state: 'succeeded' as const, client: { name: 't', auth: 'cli:t' }, lastSeq: 0, agentVersion: '1' };
  for (const [id, at] of [['b', '2026-01-02T00:00:00.000Z'], ['a', '2026-01-03T00:00:00.000Z'], ['c', '2026-01-01T00:00:00.000Z']] as const) {
    createOpDir(stateDir, id);
    writeOpInfo(stateDir, { ...base, id, startedAt: at });
  }
  mkdirSync(path.join(stateDir, 'ops', 'half-made'));
  assert.deepEqual(listOps(stateDir).map((o) => o.id), ['a', 'b', 'c']);
  assert.deepEqual(listOps(stateDir, 2).map((o) => o.id), ['a', 'b']);
  writeFileSync(path.join(stateDir, 'ops', 'c', 'op.json'), '{"id":');
  assert.throws(() => readOpInfo(stateDir, 'c'), /cannot be read/);
  assert.deepEqual(listOps(stateDir).map((o) => o.id), ['a', 'b']);
});

test('the host lock: one holder, busy message, release, stale takeover, hand-over to a worker', async () => {
  const stateDir = tmp();
  const h = acquireLock(stateDir, 'op-1', 'switch');
  assert.equal(h.pid, process.pid);
  assert.throws(() => acquireLock(stateDir, 'op-2', 'rollback'), (e: Error) => e instanceof BusyError && /^busy: switch op-1 running since \d{4}-/.test(e.message));
  releaseLock(stateDir, 'op-2'); // not the holder: no effect
  assert.equal(readLock(stateDir)?.op, 'op-1');
  releaseLock(stateDir, 'op-1');
  assert.equal(readLock(stateDir), undefined);

  // A holder that died: its lock is stale and is taken over.
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.on('exit', r));
  writeFileSync(lockFile(stateDir), JSON.stringify({ op: 'dead-op', kind: 'switch', pid: child.pid, since: new Date().toISOString() }));
  assert.equal(acquireLock(stateDir, 'op-3', 'test').op, 'op-3');
  // A torn lock file (crash between create and write) counts as stale.
  releaseLock(stateDir, 'op-3');
  writeFileSync(lockFile(stateDir), '{"op":"x');
  assert.equal(acquireLock(stateDir, 'op-4', 'test').op, 'op-4');
  // A live holder with a different start time is a reused pid: stale.
  writeFileSync(lockFile(stateDir), JSON.stringify({ op: 'old', kind: 'switch', pid: process.pid, startTime: '1', since: new Date().toISOString() }));
  assert.equal(acquireLock(stateDir, 'op-5', 'test').op, 'op-5');
  // The worker claims the lock its spawner took for the same op.
  const claimed = claimLock(stateDir, 'op-5', 'test', 'x');
  assert.equal(claimed.op, 'op-5');
  assert.throws(() => claimLock(stateDir, 'op-6', 'test', 'x'), BusyError);
  assert.equal(JSON.parse(readFileSync(lockFile(stateDir), 'utf8')).op, 'op-5');
});

test('concurrent processes racing for a stale lock: exactly one wins', async () => {
  const stateDir = tmp();
  const dead = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => dead.on('exit', r));
  const script = `
    const { acquireLock } = await import(${JSON.stringify(path.resolve('agent/runner/lock.ts'))});
    // A winner holds the lock (stays alive) until the test has every racer's answer.
    try { acquireLock(process.argv[1], 'racer-' + process.pid, 'switch'); console.log('won'); setInterval(() => {}, 1000); }
    catch (e) { console.log(e.name); }
  `;
  // Ten rounds: a lock created empty and written afterwards lost this race under CI load.
  for (let trial = 0; trial < 10; trial++) {
    writeFileSync(lockFile(stateDir), JSON.stringify({ op: 'dead', kind: 'switch', pid: dead.pid, since: 'x' }));
    const racers = Array.from({ length: 6 }, () =>
      spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, stateDir], { stdio: ['ignore', 'pipe', 'inherit'] }),
    );
    const outs = await Promise.all(
      racers.map(
        (p) =>
          new Promise<string>((resolve) => {
            let out = '';
            p.stdout!.on('data', (c) => {
              out += c;
              if (out.includes('\n')) resolve(out.trim());
            });
            p.on('exit', () => resolve(out.trim()));
          }),
      ),
    );
    racers.forEach((p) => p.kill());
    assert.equal(outs.filter((o) => o === 'won').length, 1, outs.join(','));
    assert.equal(outs.filter((o) => o === 'BusyError').length, 5, outs.join(','));
  }
});

/** Every line a subscriber is sent, reading the journal as Subscription does (frames from `fromSeq`, in chunks of `chunk` bytes). */
async function streamed(file: string, fromSeq: number, chunk?: number): Promise<number[]> {
  const fh = await open(file, 'r');
  const prefix = Buffer.from('{"type":"op.output","op":"x","lines":[');
  const seqs: number[] = [];
  let offset = 0;
  let lastSeq = fromSeq;
  try {
    for (;;) {
      const r = await readOutputFrame(fh, offset, lastSeq, prefix, chunk);
      if (r.nextOffset === offset) break;
      offset = r.nextOffset;
      lastSeq = r.lastSeq;
      if (r.frame) seqs.push(...(JSON.parse(r.frame.toString('utf8')) as { lines: OutputLine[] }).lines.map((l) => outputLine.parse(l).seq));
    }
  } finally {
    await fh.close();
  }
  return seqs;
}

test('a damaged line costs that line alone, for the live stream, a replay and the CLI reader', async () => {
  const file = path.join(tmp(), 'journal.jsonl');
  const w = JournalWriter.open(file);
  for (let i = 1; i <= 999; i++) w.append('stdout', `line ${i}`);
  w.close();
  // Damage line 500 in place (a disk error or a stray write): same length, not JSON any more.
  const text = readFileSync(file, 'utf8').split('\n');
  text[499] = text[499]!.replace('"stream":"stdout"', '"stream":\u0000\u0001garbage');
  // And one line whose fixed prefix is intact but whose end is torn, followed by a good line.
  text[700] = text[700]!.slice(0, 20);
  writeFileSync(file, text.join('\n'));
  const all = Array.from({ length: 999 }, (_, i) => i + 1).filter((s) => s !== 500 && s !== 701);
  assert.deepEqual(await streamed(file, 0), all, 'live subscription from the start');
  assert.deepEqual(await streamed(file, 0, 4096), all, 'live subscription in small chunks');
  assert.deepEqual(await streamed(file, 300), all.filter((s) => s > 300), 'replay after seq 300');
  assert.deepEqual((await readAllLines(file)).map((l) => l.seq), all, 'CLI reader');
});

test('a damaged last line: readers skip it, the writer continues after the last good seq', async () => {
  const file = path.join(tmp(), 'journal.jsonl');
  const w = JournalWriter.open(file);
  for (let i = 1; i <= 5; i++) w.append('stdout', `line ${i}`);
  w.close();
  appendFileSync(file, '{"seq":6,"stream":"stdout","text":"cut\u0000garbage\n');
  assert.equal(lastSeqOf(file), 5);
  const w2 = JournalWriter.open(file);
  assert.equal(w2.lastSeq, 5);
  w2.append('info', 'after');
  w2.close();
  assert.deepEqual((await readAllLines(file)).map((l) => [l.seq, l.text]), [[1, 'line 1'], [2, 'line 2'], [3, 'line 3'], [4, 'line 4'], [5, 'line 5'], [6, 'after']]);
  assert.deepEqual(await streamed(file, 0), [1, 2, 3, 4, 5, 6]);
});

test('damaged lines with long texts are rejected in linear time (no regex backtracking blow-up)', { timeout: 60_000 }, async () => {
  const file = path.join(tmp(), 'journal.jsonl');
  const w = JournalWriter.open(file);
  for (let i = 1; i <= 20; i++) w.append('stdout', `${'long text '.repeat(200)}${i}`);
  w.close();
  const text = readFileSync(file, 'utf8').split('\n');
  // A raw control character near the end of the text, and a line cut off inside its text.
  text[4] = text[4]!.replace(/ 5","time"/, ' 5\u0001","time"');
  text[9] = text[9]!.slice(0, 1500) + ' '.repeat(text[9]!.length - 1500);
  writeFileSync(file, text.join('\n'));
  const want = Array.from({ length: 20 }, (_, i) => i + 1).filter((s) => s !== 5 && s !== 10);
  assert.deepEqual(await streamed(file, 0), want);
  assert.deepEqual((await readAllLines(file)).map((l) => l.seq), want);
});
