import { opCommand } from './opCommand';

export default opCommand({
  id: 'nixfleet.forceRebuildFromSource',
  title: 'Force Rebuild from Source',
  kind: 'force-rebuild',
  params: () => ({ fromSource: true }),
  activates: true,
  done: (host, op) => `Rebuilt ${host} from source${op.result?.generationAfter ? `: now on generation ${op.result.generationAfter}` : ''}`,
});
