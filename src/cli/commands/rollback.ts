import { planRollback } from '../../fleet/generations';
import { generationArg, stringFlag, UsageError } from '../args';
import { opCommand } from './opCommand';

export const rollbackCommand = opCommand({
  name: 'rollback',
  kind: 'rollback',
  summary: 'activate generation N of the host (see "nixfleet generations HOST")',
  details: 'The question names both generations, with their commits, dates and tests; a generation older than 30 days or one that failed its health checks is marked. --yes also confirms an old one.',
  flags: { to: { type: 'string', value: 'N', help: 'the generation to go back (or forward) to' } },
  mutating: true,
  activates: true,
  params: (ctx) => {
    const to = stringFlag(ctx.flags, 'to');
    if (to === undefined) throw new UsageError('rollback: say which generation with --to N; "nixfleet generations HOST" lists them');
    return { to: generationArg('rollback', 'to', to) };
  },
  review: async (_ctx, host, session, params) => {
    const plan = planRollback(host, await session.generations(), params.to as number);
    // The user confirmed exactly this generation, however old: what the agent's confirmOld is for.
    return { question: plan.message, params: plan.old ? { confirmOld: true } : {} };
  },
});
