// From a generation's context menu: no picker, straight to the confirmation.
import { asArgs } from '../../flows/args';
import { resolveHost } from '../../flows/pickHost';
import { rollbackFlow } from '../../flows/rollback';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.rollbackToGeneration',
  title: 'Rollback to This Generation',
  mutating: true,
  async run(c, arg) {
    const args = asArgs(arg);
    if (args.generation === undefined) throw new Error('Rollback to This Generation needs a generation: run it from a generation in the Fleet view, or use "NixFleet: Rollback"');
    const host = await resolveHost(c, arg, { title: 'Rollback' });
    return rollbackFlow(c, host.name, Number(args.generation), args.confirm === true);
  },
});
