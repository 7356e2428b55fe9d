import { resolveHost } from '../ui/pickHost';
import { defineCommand } from './types';

export default defineCommand({
  id: 'nixfleet.showLogs',
  title: 'Show Logs',
  mutating: false,
  async run(c, arg) {
    const host = await resolveHost(c, arg, { title: 'Show Logs', needsAgent: false });
    c.logs.show(host.name, false);
    return { host: host.name, channel: `NixFleet: ${host.name}` };
  },
});
