import { OP_ID_RE, printable } from '../../../protocol';
import { hostArg, UsageError } from '../args';
import type { Command } from '../command';
import { followOp } from '../follow';

export const cancelCommand: Command = {
  name: 'cancel',
  summary: 'stop the op running on a host (or op OP): its worker is stopped and the op recorded as cancelled',
  positionals: ['HOST', 'OP'],
  flags: {},
  mutating: true,
  async run(ctx) {
    const host = ctx.knownHost(hostArg('cancel', ctx.positionals[0]));
    const given = ctx.positionals[1];
    if (given !== undefined && !OP_ID_RE.test(given)) throw new UsageError(`cancel: "${printable(given)}" is not an op id`);
    ctx.source().checkCanOperate(host);
    ctx.requireConfirmable(`cancel on ${host}`);
    const session = await ctx.connections().online(host);
    const busy = (await session.status()).busy;
    const op = given ?? busy?.op;
    if (!op) throw new Error(`host ${host} runs no op: nothing to cancel`);
    const what = busy?.op === op ? `${busy.kind} ${op}` : `op ${op}`;
    await ctx.confirm(`cancel on ${host}`, `Cancel ${what} on ${host}? A switch stopped halfway leaves the host on the generation it reached.`);
    const info = await session.cancelOp(op);
    // The worker stops within its grace period; wait for the record to say how it ended.
    const final = info.state === 'running' ? await followOp(session, host, op, { fromSeq: info.lastSeq }) : info;
    if (ctx.json) ctx.out.json(final);
    else ctx.out.note(`${final.kind} ${op} on ${host}: ${final.state}`);
    return final.state === 'cancelled' ? 0 : 1;
  },
};
