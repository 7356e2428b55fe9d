import { asArgs } from '../../flows/args';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.refresh',
  title: 'Refresh',
  mutating: false,
  async run(c, arg) {
    await c.ensureStarted();
    const { host } = asArgs(arg);
    if (typeof host === 'string') {
      await c.fleet.retryOffline(host);
      await c.fleet.refresh(host);
    } else {
      // Everything: settings, the flake's host list, the workspace commit, then every agent.
      await Promise.all([c.rediscover(), c.readWorkspace(), c.fleet.retryOffline()]);
      await c.fleet.refresh();
    }
    return c.fleet.hosts();
  },
});
