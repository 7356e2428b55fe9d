// Cancel a running op (from its tree node, or { host, op }): sends op.cancel; the agent stops
// the op's worker and records it cancelled.
import { opId } from '../../../protocol';
import { asArgs, isProgrammatic } from '../../flows/args';
import { resolveHost } from '../../flows/pickHost';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.cancelOp',
  title: 'Cancel Operation',
  mutating: true,
  async run(c, arg) {
    const args = asArgs(arg);
    const host = await resolveHost(c, arg, { title: 'Cancel Operation' });
    const fromNode = (arg as { op?: { id?: unknown } } | undefined)?.op;
    const id = typeof args.op === 'string' ? args.op : typeof fromNode?.id === 'string' ? fromNode.id : host.runningOps[0]?.id;
    if (!id) throw new Error(`no op is running on ${host.name}`);
    opId.parse(id);
    const session = await c.fleet.session(host.name);
    const op = await session.cancelOp(id);
    if (!isProgrammatic(arg)) void c.editor.showInformationMessage(`Cancelling ${op.kind} on ${host.name}`);
    return op;
  },
});
