import { gitRef } from '../../protocol';
import { asArgs } from '../ui/pickHost';
import { opCommand } from './opCommand';

export default opCommand({
  id: 'nixfleet.pull',
  title: 'Pull Checkout',
  kind: 'pull',
  params: (_c, arg) => {
    const { ref } = asArgs(arg);
    return ref === undefined ? {} : { ref: gitRef.parse(ref) };
  },
  done: (host, op) => `Pulled the checkout on ${host}${op.result?.revision ? ` to ${String(op.result.revision).slice(0, 7)}` : ''}`,
});
