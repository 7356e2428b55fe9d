// Rebuild Smart (agent/rebuildSmart) with the user's settings; the flow is flows/rebuildSmart.ts.
import { rebuildSmartFlow } from '../../flows/rebuildSmart';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.rebuildSmart',
  title: 'Rebuild Smart',
  mutating: true,
  run: (c, arg) => rebuildSmartFlow(c, arg),
});
