import { resolveHost } from '../../flows/pickHost';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.showLogs',
  title: 'Show Logs',
  mutating: false,
  async run(c, arg) {
    const host = await resolveHost(c, arg, { title: 'Show Logs', needsAgent: false });
    c.logs.show(host.name, false);
    // A fresh window has an empty channel: fill it with the host's recent ops.
    const replayed = host.entry && host.connection !== 'unconfigured' ? await c.fleet.replayRecent(host.name).catch(() => []) : [];
    return { host: host.name, channel: `NixFleet: ${host.name}`, replayed: replayed.map((o) => o.id) };
  },
});
