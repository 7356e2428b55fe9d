import { opCommand } from './opCommand';

export default opCommand({
  id: 'nixfleet.forceRebuild',
  title: 'Force Rebuild',
  kind: 'force-rebuild',
  params: () => ({}),
  activates: true,
  done: (host, op) => `Rebuilt ${host}${op.result?.generationAfter ? `: now on generation ${op.result.generationAfter}` : ''}`,
});
