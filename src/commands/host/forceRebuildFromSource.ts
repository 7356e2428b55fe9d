import { hostOpFlow } from '../../flows/hostOp';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.forceRebuildFromSource',
  title: 'Force Rebuild from Source',
  mutating: true,
  run: (c, arg) =>
    hostOpFlow(c, arg, {
      title: 'Force Rebuild from Source',
      kind: 'force-rebuild',
      params: { fromSource: true },
      activates: true,
      done: (host, op) => `Rebuilt ${host} from source${op.result?.generationAfter ? `: now on generation ${op.result.generationAfter}` : ''}`,
    }),
});
