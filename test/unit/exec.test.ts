import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommandError, LineSplitter, runCommand } from '../../agent/exec';
import { MAX_LINE_CHARS } from '../../protocol';

const collect = () => {
  const lines: string[] = [];
  return { lines, sink: (stream: string, text: string) => lines.push(`${stream}:${text}`) };
};

test('output arrives as lines per stream, argv is passed verbatim', async () => {
  const { lines, sink } = collect();
  const r = await runCommand(['sh', '-c', 'printf "a\\nb"; echo err >&2; echo "$1"', 'sh', '$(touch /nonexistent); echo x'], sink, { capture: true });
  assert.equal(r.exitCode, 0);
  assert.deepEqual(lines.filter((l) => l.startsWith('stdout:')), ['stdout:a', 'stdout:b$(touch /nonexistent); echo x']);
  assert.deepEqual(lines.filter((l) => l.startsWith('stderr:')), ['stderr:err']);
  assert.equal(r.stdout, 'a\nb$(touch /nonexistent); echo x');
});

test('a non-zero exit throws with the last stderr line, unless allowed', async () => {
  const { sink } = collect();
  await assert.rejects(runCommand(['sh', '-c', 'echo boom >&2; exit 3'], sink), (e: CommandError) => e.exitCode === 3 && /exited with code 3: boom/.test(e.message));
  assert.equal((await runCommand(['sh', '-c', 'exit 4'], sink, { allowFailure: true })).exitCode, 4);
  await assert.rejects(runCommand(['no-such-command-nixfleet'], sink), /command not found/);
});

test('cancelling stops the whole process group, even a grandchild holding the pipes', async () => {
  const { sink } = collect();
  const ac = new AbortController();
  const started = Date.now();
  // The grandchild inherits stdout and would keep the pipe open for 60 s.
  const run = runCommand(['sh', '-c', 'sleep 60 & echo started; wait'], sink, { signal: ac.signal });
  setTimeout(() => ac.abort(), 300);
  await assert.rejects(run, /was cancelled/);
  assert.ok(Date.now() - started < 15_000, `cancel took ${Date.now() - started} ms`);
});

test('a timeout kills the command and says so', async () => {
  const { sink } = collect();
  await assert.rejects(runCommand(['sh', '-c', 'sleep 60 & wait'], sink, { timeoutMs: 300 }), /timed out after 300 ms/);
});

test('over-long lines are split, never dropped', () => {
  const out: string[] = [];
  const s = new LineSplitter((l) => out.push(l));
  s.push('x'.repeat(MAX_LINE_CHARS * 2 + 5) + '\ny');
  s.end();
  assert.deepEqual(out.map((l) => l.length), [MAX_LINE_CHARS, MAX_LINE_CHARS, 5, 1]);
});
