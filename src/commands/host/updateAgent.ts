import { asArgs } from '../../flows/args';
import { hostOpFlow } from '../../flows/hostOp';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.updateAgent',
  title: 'Update Agent',
  mutating: true,
  run(c, arg) {
    const { dryRun } = asArgs(arg);
    return hostOpFlow(c, arg, {
      title: 'Update Agent',
      progressTitle: 'Update agent',
      kind: 'self-update',
      params: { verify: true, ...(dryRun === true ? { dryRun: true } : {}) },
      done: (host, op) => {
        const { agentVersionBefore: before, agentVersionAfter: after } = op.result ?? {};
        return dryRun ? `Agent update on ${host}: dry run done, see the log` : `Agent on ${host} updated${before || after ? ` from ${before ?? '?'} to ${after ?? '?'}` : ''}`;
      },
    });
  },
});
