import { hostOpFlow } from '../../flows/hostOp';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.forceRebuild',
  title: 'Force Rebuild',
  mutating: true,
  run: (c, arg) =>
    hostOpFlow(c, arg, {
      title: 'Force Rebuild',
      kind: 'force-rebuild',
      params: {},
      activates: true,
      done: (host, op) => `Rebuilt ${host}${op.result?.generationAfter ? `: now on generation ${op.result.generationAfter}` : ''}`,
    }),
});
