import { resolveHost } from '../../flows/pickHost';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.showLogs',
  title: 'Show Logs',
  mutating: false,
  async run(c, arg) {
    const host = await resolveHost(c, arg, { title: 'Show Logs', needsAgent: false });
    // The first time, the host's recent ops are replayed before what this window saw.
    const replayed = await c.logs.show(host.name, false);
    return { host: host.name, channel: `NixFleet: ${host.name}`, replayed: replayed.map((o) => o.id) };
  },
});
