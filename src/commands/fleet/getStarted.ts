// Opens the "Get Started with NixFleet" walkthrough (package.json contributes.walkthroughs).
import { republishContextKeys } from '../../ui/contextKeys';
import { defineCommand } from '../types';

/** The walkthrough's id in package.json. */
export const WALKTHROUGH_ID = 'nixfleet.gettingStarted';

export default defineCommand({
  id: 'nixfleet.getStarted',
  title: 'Get Started',
  mutating: false,
  async run(c) {
    await c.editor.executeCommand('workbench.action.openWalkthrough', `${c.context.extension.id}#${WALKTHROUGH_ID}`, false);
    await republishContextKeys(c.fleet);
  },
});
