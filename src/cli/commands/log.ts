import { OP_ID_RE, printable, type OutputLine } from '../../../protocol';
import { hostArg, intArg, stringFlag, UsageError } from '../args';
import type { Command } from '../command';
import { followOp } from '../follow';

export const logCommand: Command = {
  name: 'log',
  summary: "print an op's journal from the host (--follow: until the op ends); exit status is the op's outcome",
  details: [
    'Every journal line is printed once, in order, also when the connection drops or the agent restarts while following.',
    'Without --follow it prints the lines written so far. Exit 0 when the op succeeded (or, without --follow, still runs).',
    'With --json: { "op": <the op record>, "lines": [<journal lines>] } after the lines are in.',
  ].join('\n'),
  positionals: ['HOST', 'OP'],
  flags: {
    follow: { type: 'boolean', help: 'keep printing until the op ends' },
    'from-seq': { type: 'string', value: 'N', help: 'start after journal line N' },
  },
  mutating: false,
  async run(ctx) {
    const host = hostArg('log', ctx.positionals[0]);
    const op = ctx.positionals[1];
    if (op === undefined) throw new UsageError('log: give the op id after the host, e.g. "nixfleet log web1 switch-m1abc-0f3e"');
    if (!OP_ID_RE.test(op)) throw new UsageError(`log: "${printable(op)}" is not an op id`);
    const fromText = stringFlag(ctx.flags, 'from-seq');
    const fromSeq = fromText === undefined ? 0 : intArg('log', 'from-seq', fromText, 0, 2 ** 31 - 1);
    const follow = ctx.flags.follow === true;
    ctx.knownHost(host);
    const session = await ctx.connections().online(host);
    if (follow) ctx.out.note(`following op ${op} on ${host} (Ctrl-C stops following; the op continues)`);
    const lines: OutputLine[] = [];
    const final = await followOp(session, host, op, {
      fromSeq,
      snapshot: !follow,
      onLines: (ls) => {
        if (ctx.json) lines.push(...ls);
        else for (const l of ls) ctx.out.opLine(l, false);
      },
    });
    if (ctx.json) ctx.out.json({ op: final, lines });
    if (final.state === 'succeeded' || (!follow && final.state === 'running')) return 0;
    if (!ctx.json) ctx.out.note(`nixfleet: ${final.kind} ${op} on ${host} ${final.state}${final.error ? `: ${final.error}` : ''}`);
    return 1;
  },
};
