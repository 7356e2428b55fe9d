import { commitHash } from '../../../protocol';
import { asArgs } from '../../flows/args';
import { hostOpFlow } from '../../flows/hostOp';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.switch',
  title: 'Switch',
  mutating: true,
  run(c, arg) {
    const { rev } = asArgs(arg);
    return hostOpFlow(c, arg, {
      title: 'Switch',
      kind: 'switch',
      params: rev === undefined ? {} : { rev: commitHash.parse(rev) },
      activates: true,
      done: (host, op) => `Switched ${host}${op.result?.generationAfter ? ` to generation ${op.result.generationAfter}` : ''}`,
    });
  },
});
