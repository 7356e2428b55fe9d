// The host log's order and times (src/ui/logLines.ts) on a recording sink in place of VS Code's
// LogOutputChannel: held while the history loads, then every op in the order it started; live
// lines appended; a late op said to be late; each line keeps its own time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OpInfo } from '../../protocol';
import { blockFooter, blockHeader, HostLog, lineText, timeOfDay, type LogSink } from '../../src/ui/logLines';

class RecordingSink implements LogSink {
  lines: string[] = [];
  info(t: string) {
    this.lines.push(`info ${t}`);
  }
  warn(t: string) {
    this.lines.push(`warn ${t}`);
  }
  error(t: string) {
    this.lines.push(`error ${t}`);
  }
  dispose() {}
}

function op(id: string, kind: OpInfo['kind'], startedAt: string, state: OpInfo['state'] = 'succeeded'): OpInfo {
  return { id, kind, params: {}, state, client: { name: 'cli root@h1', auth: 'cli:root' }, startedAt, endedAt: new Date(Date.parse(startedAt) + 2500).toISOString(), lastSeq: 1, agentVersion: '1' };
}

function feed(log: HostLog, o: OpInfo, text: string): void {
  const b = log.block(o.id, o.startedAt, o.kind);
  log.add(b, [blockHeader('h1', o)]);
  log.add(b, [{ level: 'info', text: lineText(new Date(Date.parse(o.startedAt) + 1000).toISOString(), o.kind, text) }]);
  log.add(b, [blockFooter(o)]);
}

test('held while the history loads: the history first, the op that runs now last, each line with its own time', () => {
  const sink = new RecordingSink();
  const log = new HostLog(sink);
  log.hold();
  // The op that runs now creates the channel; its first lines come before the history.
  const rebuild = op('fr-3', 'force-rebuild', '2026-12-04T14:30:00.000Z');
  feed(log, rebuild, 'building');
  // The replay of the host's journal: a pull and a switch that ran before, from the CLI.
  feed(log, op('pull-1', 'pull', '2026-12-04T14:10:00.000Z'), 'pulled');
  feed(log, op('switch-2', 'switch', '2026-12-04T14:20:00.000Z', 'failed'), 'switching');
  assert.deepEqual(sink.lines, [], 'nothing is written while held');
  log.release();
  const kinds = sink.lines.map((l) => /\[([a-z-]+)\]/.exec(l)![1]);
  assert.deepEqual(kinds, ['pull', 'pull', 'pull', 'switch', 'switch', 'switch', 'force-rebuild', 'force-rebuild', 'force-rebuild']);
  assert.equal(sink.lines[1], `info ${timeOfDay('2026-12-04T14:10:01.000Z')} [pull] pulled`);
  assert.match(sink.lines[5]!, /^error \d\d:\d\d:\d\d\.\d{3} \[switch\] ■ switch failed in 2\.5 s/);
  assert.match(sink.lines[6]!, /^info \d\d:\d\d:\d\d\.\d{3} \[force-rebuild\] ▶ force-rebuild on h1, started 2026-12-04 \d\d:30:00 by cli root@h1 \(op fr-3\)$/);

  // Live again: the next op is appended as its lines come.
  const rb = op('rb-4', 'rollback', '2026-12-04T14:40:00.000Z');
  const b = log.block(rb.id, rb.startedAt, rb.kind);
  log.add(b, [blockHeader('h1', rb)]);
  assert.equal(sink.lines.length, 10);
  log.add(b, [{ level: 'info', text: lineText('2026-12-04T14:40:01.000Z', 'rollback', 'activating') }]);
  assert.equal(sink.lines.at(-1), `info ${timeOfDay('2026-12-04T14:40:01.000Z')} [rollback] activating`);
});

test('an op that started earlier but is seen only later is appended with a line that says so', () => {
  const sink = new RecordingSink();
  const log = new HostLog(sink);
  feed(log, op('sw-2', 'switch', '2026-12-04T14:20:00.000Z'), 'switching');
  feed(log, op('pull-1', 'pull', '2026-12-04T14:10:00.000Z'), 'pulled');
  assert.match(sink.lines[3]!, /^info \d\d:10:00\.000 \[pull\] \(this op started at 2026-12-04 \d\d:10:00, before the ones above: this window learnt of it only now\)$/);
  assert.match(sink.lines[4]!, /\[pull\] ▶ pull on h1/);
  assert.equal(sink.lines.length, 7);
});

test('while held, a host log keeps a bounded number of lines, dropping the oldest ops first', () => {
  const sink = new RecordingSink();
  const log = new HostLog(sink);
  log.hold();
  const first = log.block('a', '2026-12-04T10:00:00.000Z', 'switch');
  log.add(first, Array.from({ length: 15_000 }, (_, i) => ({ level: 'info' as const, text: `a ${i}` })));
  const second = log.block('b', '2026-12-04T11:00:00.000Z', 'switch');
  log.add(second, Array.from({ length: 15_000 }, (_, i) => ({ level: 'info' as const, text: `b ${i}` })));
  log.release();
  assert.deepEqual(log.blocks.map((b) => b.key), ['b']);
  assert.equal(sink.lines.length, 15_000);
  assert.equal(sink.lines[0], 'info b 0');
});
