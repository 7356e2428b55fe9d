import { asArgs } from '../../flows/args';
import { resolveHost } from '../../flows/pickHost';
import { rollbackFlow } from '../../flows/rollback';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.rollback',
  title: 'Rollback',
  mutating: true,
  async run(c, arg) {
    const args = asArgs(arg);
    const host = await resolveHost(c, arg, { title: 'Rollback' });
    const generation = args.generation === undefined ? undefined : Number(args.generation);
    return rollbackFlow(c, host.name, generation, args.confirm === true);
  },
});
