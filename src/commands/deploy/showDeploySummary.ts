// NixFleet: Show Deploy Summary — the live summary of the last deploy (or { deploy: id }).
// Programmatic use returns the summary model (what the webview shows).
import { summarizeDeploy } from '../../deploy/summary';
import { asArgs, isProgrammatic } from '../../flows/args';
import { showDeploySummary } from '../../views/deploySummary';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.showDeploySummary',
  title: 'Show Deploy Summary',
  mutating: false,
  async run(c, arg) {
    const record = c.deploys.find(asArgs(arg).deploy);
    if (!isProgrammatic(arg)) showDeploySummary(c, record);
    return summarizeDeploy(record);
  },
});
