import { gitRef } from '../../../protocol';
import { asArgs } from '../../flows/args';
import { hostOpFlow } from '../../flows/hostOp';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.pull',
  title: 'Pull Checkout',
  mutating: true,
  run(c, arg) {
    const { ref } = asArgs(arg);
    return hostOpFlow(c, arg, {
      title: 'Pull Checkout',
      kind: 'pull',
      params: ref === undefined ? {} : { ref: gitRef.parse(ref) },
      done: (host, op) => `Pulled the checkout on ${host}${op.result?.revision ? ` to ${String(op.result.revision).slice(0, 7)}` : ''}`,
    });
  },
});
