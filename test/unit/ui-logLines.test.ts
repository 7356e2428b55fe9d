// The host log's order and times (src/ui/logLines.ts) on a recording sink in place of VS Code's
// LogOutputChannel: the op that runs now is appended; a history that arrives after it is put
// before it, the channel rewritten in the order the ops started; each line keeps its own time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OpInfo } from '../../protocol';
import { blockFooter, blockHeader, HostLog, lineText, timeOfDay, type LogSink } from '../../src/ui/logLines';

class RecordingSink implements LogSink {
  lines: string[] = [];
  clears = 0;
  info(t: string) {
    this.lines.push(`info ${t}`);
  }
  warn(t: string) {
    this.lines.push(`warn ${t}`);
  }
  error(t: string) {
    this.lines.push(`error ${t}`);
  }
  clear() {
    this.clears++;
    this.lines = [];
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

test('the live op is appended; an older history arriving later goes before it, each line with its own time', () => {
  const sink = new RecordingSink();
  const log = new HostLog(sink);
  const rebuild = op('fr-3', 'force-rebuild', '2026-12-04T14:30:00.000Z');
  feed(log, rebuild, 'building');
  log.flush();
  assert.equal(sink.clears, 0, 'in order: appended, not rewritten');
  assert.equal(sink.lines.length, 3);

  // Show Logs replays the host's journal: a pull and a switch that ran before, from the CLI.
  feed(log, op('pull-1', 'pull', '2026-12-04T14:10:00.000Z'), 'pulled');
  feed(log, op('switch-2', 'switch', '2026-12-04T14:20:00.000Z', 'failed'), 'switching');
  log.flush();
  assert.equal(sink.clears, 1, 'rewritten once for the whole replay');
  const kinds = sink.lines.map((l) => /\[([a-z-]+)\]/.exec(l)![1]);
  assert.deepEqual(kinds, ['pull', 'pull', 'pull', 'switch', 'switch', 'switch', 'force-rebuild', 'force-rebuild', 'force-rebuild']);
  assert.equal(sink.lines[1], `info ${timeOfDay('2026-12-04T14:10:01.000Z')} [pull] pulled`);
  assert.match(sink.lines[5]!, /^error \d\d:\d\d:\d\d\.\d{3} \[switch\] ■ switch failed in 2\.5 s/);
  assert.match(sink.lines[6]!, /^info \d\d:\d\d:\d\d\.\d{3} \[force-rebuild\] ▶ force-rebuild on h1, started 2026-12-04 \d\d:30:00 by cli root@h1 \(op fr-3\)$/);

  // The next live op is appended again.
  feed(log, op('rb-4', 'rollback', '2026-12-04T14:40:00.000Z'), 'activating');
  log.flush();
  assert.equal(sink.clears, 1);
  assert.equal(sink.lines.at(-2), `info ${timeOfDay('2026-12-04T14:40:01.000Z')} [rollback] activating`);
});

test('a host log keeps a bounded number of lines, dropping the oldest ops first', () => {
  const sink = new RecordingSink();
  const log = new HostLog(sink);
  const first = log.block('a', '2026-12-04T10:00:00.000Z', 'switch');
  log.add(first, Array.from({ length: 15_000 }, (_, i) => ({ level: 'info' as const, text: `a ${i}` })));
  const second = log.block('b', '2026-12-04T11:00:00.000Z', 'switch');
  log.add(second, Array.from({ length: 15_000 }, (_, i) => ({ level: 'info' as const, text: `b ${i}` })));
  log.flush();
  assert.deepEqual(log.blocks.map((b) => b.key), ['b']);
  assert.equal(sink.lines.length, 15_000);
  assert.equal(sink.lines[0], 'info b 0');
});
