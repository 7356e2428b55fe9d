import { commitHash } from '../../protocol';
import { asArgs } from '../ui/pickHost';
import { opCommand } from './opCommand';

export default opCommand({
  id: 'nixfleet.switch',
  title: 'Switch',
  kind: 'switch',
  params: (_c, arg) => {
    const { rev } = asArgs(arg);
    return rev === undefined ? {} : { rev: commitHash.parse(rev) };
  },
  activates: true,
  done: (host, op) => `Switched ${host}${op.result?.generationAfter ? ` to generation ${op.result.generationAfter}` : ''}`,
});
