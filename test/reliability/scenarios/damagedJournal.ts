// A damaged journal line (a disk error, a stray write) costs that line alone, for every
// reader: a client following the op while it runs, a client replaying it from the start
// or from a seq, and the CLI's `log --json`. Each trial damages 1-3 random lines in place
// (same length: garbage bytes, invalid UTF-8, a raw control character in the text, a
// cut-off line) and compares what each reader got with the lines of the file that are
// still valid, parsed independently here.
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { outputLine, type OutputLine } from '../../../protocol';
import { createTestBed } from '../../fixtures/testbed';
import { AGENT_JS, connect } from '../../integration/agent-harness';
import { Tally, check, journalPath, killWorkers, rng, sleep, startAgent, stopAllAgents, within, type Scenario } from '../lib';

/** Seqs of the lines of `file` that are still valid journal lines, by JSON.parse and the schema. */
function validSeqs(file: string): number[] {
  const out: number[] = [];
  for (const raw of readFileSync(file).toString('utf8').split('\n')) {
    try {
      out.push(outputLine.parse(JSON.parse(raw)).seq);
    } catch {
      /* damaged or empty */
    }
  }
  return out;
}

const DAMAGE: ((line: Buffer) => Buffer)[] = [
  (l) => Buffer.concat([l.subarray(0, 12), Buffer.from('#'.repeat(Math.max(0, l.length - 12)))]), // garbage after the seq prefix
  (l) => Buffer.concat([l.subarray(0, l.length - 6), Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xff, 0xfe])]), // invalid UTF-8 at the end
  (l) => Buffer.from(l.toString('latin1').replace(/"text":"./, '"text":"\u0001'), 'latin1'), // a raw control character in the text
  (l) => Buffer.concat([l.subarray(0, Math.floor(l.length / 2)), Buffer.alloc(l.length - Math.floor(l.length / 2), 0x20)]), // cut off, padded
];

/** Overwrite journal line `seq` (1-based line index) in place with a damaged copy of the same length. */
function damage(file: string, index: number, how: number): void {
  const buf = readFileSync(file);
  let start = 0;
  for (let i = 1; i < index; i++) start = buf.indexOf(0x0a, start) + 1;
  const end = buf.indexOf(0x0a, start);
  const bad = DAMAGE[how]!(buf.subarray(start, end));
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, bad.subarray(0, end - start), 0, end - start, start);
  } finally {
    closeSync(fd);
  }
}

const seqsOf = (lines: OutputLine[]) => lines.map((l) => l.seq);
const same = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

export const damagedJournalScenario: Scenario = {
  name: 'damaged-journal',
  async run(ctx) {
    const trials = ctx.quick ? 2 : 12;
    const random = rng(Number(process.env.NIXFLEET_RELIABILITY_SEED) + 11);
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    const config = bed.writeConfig('h1');
    const tally = new Tally(ctx);
    const agent = await startAgent(bed, 'h1');
    const c = connect(agent, bed.token, { reconnect: false });
    let damaged = 0;
    let delivered = 0;
    try {
      await c.connect();
      // Activation prints 600 lines over a second or two: the damage lands while the op runs.
      bed.setHook('h1', 'i=1; while [ $i -le 600 ]; do echo "activation line $i"; i=$((i+1)); if [ $((i % 50)) = 0 ]; then sleep 0.1; fi; done\n');
      for (let t = 0; t < trials; t++) {
        await tally.trial(`damaged journal ${t + 1}`, async () => {
          const opId = `dj-${t}-${Date.now().toString(36)}`;
          await c.startOp(opId, 'switch', {});
          const file = journalPath(h.stateDir, opId);
          // Wait until part of the activation is in the journal, then damage lines already written.
          const written = await within('activation output in the journal', 120_000, (async () => {
            for (;;) {
              const n = readFileSync(file, 'utf8').split('\n').length - 1;
              if (n >= 120) return n;
              await sleep(20);
            }
          })());
          const count = 1 + Math.floor(random() * 3);
          for (let k = 0; k < count; k++) damage(file, 2 + Math.floor(random() * (written - 2)), Math.floor(random() * DAMAGE.length));
          damaged += count;
          // A client following it live (subscribed from 0 while the op still runs).
          const live = await within(`end of ${opId}`, 120_000, c.follow(opId));
          check(live.op.state === 'succeeded', `op ended ${live.op.state}: ${live.op.error}`);
          const expected = validSeqs(file);
          check(expected.length >= live.op.lastSeq - count, `${live.op.lastSeq - expected.length} lines invalid after damaging ${count}`);
          check(same(seqsOf(live.lines), expected), `live: got ${live.lines.length} lines, the file has ${expected.length} valid (first difference at ${seqsOf(live.lines).find((s, i) => s !== expected[i])})`);
          // Replays: from the start and from a random seq, on a fresh connection.
          const r = connect(agent, bed.token, { reconnect: false });
          try {
            await r.connect();
            const all = await within('replay', 60_000, r.follow(opId));
            check(same(seqsOf(all.lines), expected), `replay: got ${all.lines.length} lines, the file has ${expected.length} valid`);
          } finally {
            r.close();
          }
          const from = 1 + Math.floor(random() * (written - 1));
          const r2 = connect(agent, bed.token, { reconnect: false });
          try {
            await r2.connect();
            const got: OutputLine[] = [];
            r2.onOutput.on(({ op: id, lines: ls }) => id === opId && got.push(...ls));
            const done = new Promise<void>((resolve) => r2.onOpEnd.on((info) => info.id === opId && resolve()));
            await r2.subscribe(opId, from);
            await within('replay from a seq', 60_000, done);
            const want = expected.filter((s) => s > from);
            check(same(seqsOf(got), want), `replay after ${from}: got ${got.length} lines, the file has ${want.length} valid after it`);
          } finally {
            r2.close();
          }
          // The CLI.
          const cli = spawnSync(process.execPath, [AGENT_JS, 'log', opId, '--config', config, '--json'], { env: bed.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
          check(cli.status === 0, `log --json exited ${cli.status}: ${cli.stderr}`);
          check(same(seqsOf((JSON.parse(cli.stdout) as { lines: OutputLine[] }).lines), expected), 'log --json differs from the valid lines');
          delivered += expected.length;
        });
      }
    } finally {
      bed.setHook('h1', null);
      c.close();
      await stopAllAgents();
      killWorkers(h.stateDir);
      await bed.cleanup();
    }
    return tally.outcome(`${damaged} lines damaged, each cost that line alone; ${delivered} valid lines delivered to 3 clients and the CLI`);
  },
};
