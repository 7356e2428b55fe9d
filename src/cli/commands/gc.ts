import { gcPlan, parseDays } from '../../../protocol';
import { stringFlag, UsageError } from '../args';
import { opCommand } from './opCommand';

export const gcCommand = opCommand({
  name: 'gc',
  kind: 'gc',
  summary: 'delete the host\'s generations older than --older-than DAYS (e.g. 30d), never its current or last known working one',
  details: 'The question lists every generation that goes and those kept; the host deletes exactly that list, and refuses, deleting nothing, if any of it may no longer go. The store paths are freed by the host\'s next store garbage collection.',
  flags: { 'older-than': { type: 'string', value: 'DAYS', help: 'age limit, e.g. 30d (1 to 36500 days)' } },
  mutating: true,
  activates: false,
  params: (ctx) => {
    const text = stringFlag(ctx.flags, 'older-than');
    if (text === undefined) throw new UsageError('gc: say how old with --older-than DAYS, e.g. --older-than 30d');
    try {
      return { olderThanDays: parseDays(text) };
    } catch (err) {
      throw new UsageError(`gc: --older-than: ${(err as Error).message}`);
    }
  },
  review: async (_ctx, host, session, params) => {
    const days = params.olderThanDays as number;
    // The agent's own rule; the host checks each listed generation again before it deletes.
    const plan = gcPlan(await session.generations(), days);
    const kept = plan.kept.map((k) => `generation ${k.generation.generation} stays (${k.reason === 'current' ? 'current' : 'last known working'})`);
    if (!plan.delete.length) return { nothing: `host ${host} has no generation older than ${days} days to delete${kept.length ? `; ${kept.join(', ')}` : ''}` };
    const list = plan.delete.map((g) => `  generation ${g.generation}, ${g.createdAt.slice(0, 16).replace('T', ' ')} UTC${g.revision ? `, revision ${g.revision.slice(0, 12)}` : ''}`);
    return {
      question: [`Delete ${plan.delete.length} generation(s) of ${host} older than ${days} days?`, ...list, ...kept.map((k) => `  ${k}`)].join('\n'),
      params: { generations: plan.delete.map((g) => g.generation) },
    };
  },
});
