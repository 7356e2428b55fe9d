import { opCommand } from './opCommand';

export const testCommand = opCommand({
  name: 'test',
  kind: 'test',
  summary: 'run the host\'s health checks and record the result for its current generation',
  details: 'It changes no generation and no checkout, so it does not ask.',
  flags: {},
  mutating: false,
  activates: false,
  params: () => ({}),
  review: async () => ({ question: '' }),
});
