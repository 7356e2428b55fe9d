// Opens the "Get Started with NixFleet" walkthrough (package.json contributes.walkthroughs),
// its steps already done checked (src/ui/contextKeys.ts says why that takes marking them).
import { markDoneSteps, WALKTHROUGH_ID } from '../../ui/contextKeys';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.getStarted',
  title: 'Get Started',
  mutating: false,
  async run(c) {
    await c.editor.executeCommand('workbench.action.openWalkthrough', `${c.context.extension.id}#${WALKTHROUGH_ID}`, false);
    await markDoneSteps(c.fleet);
  },
});
