import { hostOpFlow } from '../../flows/hostOp';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.runTests',
  title: 'Run Tests',
  mutating: true,
  run: (c, arg) =>
    hostOpFlow(c, arg, {
      title: 'Run Tests',
      progressTitle: 'Health checks',
      kind: 'test',
      params: {},
      done: (host) => `Health checks passed on ${host}`,
    }),
});
