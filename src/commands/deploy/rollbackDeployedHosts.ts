// NixFleet: Rollback Deployed Hosts — every host that switched in the last deploy (or
// { deploy: id } from the audit log) goes back to the generation it had before it.
// executeCommand('nixfleet.rollbackDeployedHosts', { deploy?, hosts?, confirm: true }) → DeployRecord.
import { asArgs, isProgrammatic } from '../../flows/args';
import { rollbackDeployFlow } from '../../flows/deployUndo';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.rollbackDeployedHosts',
  title: 'Rollback Deployed Hosts',
  mutating: true,
  async run(c, arg) {
    await c.ensureStarted();
    const args = asArgs(arg);
    if (args.hosts !== undefined && (!Array.isArray(args.hosts) || args.hosts.some((h) => typeof h !== 'string'))) throw new Error('hosts must be a list of host names');
    const record = c.deploys.find(args.deploy);
    return rollbackDeployFlow(c, record, { hosts: args.hosts as string[] | undefined, confirmed: args.confirm === true, interactive: !isProgrammatic(arg) });
  },
});
