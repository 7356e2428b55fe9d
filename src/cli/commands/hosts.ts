import type { HostStatus } from '../../../protocol';
import type { Command } from '../command';

/** One host as `hosts --json` prints it. */
export interface HostLine {
  name: string;
  platform: string | null;
  address: string;
  online: boolean;
  generation: number | null;
  runningOp: { id: string; kind: string; since: string } | null;
  agentVersion: string | null;
  /** Why it is offline, with what to do. */
  error?: string;
}

export const hostsCommand: Command = {
  name: 'hosts',
  summary: 'list the hosts: platform, online, current generation, running op',
  details: [
    'Every host is asked at once (with --broker: the hosts and their state come from the broker\'s status bucket, no host is asked).',
    'An offline host is listed with the reason (on stderr, or as "error" with --json); it does not make the command fail.',
  ].join('\n'),
  positionals: [],
  flags: {},
  mutating: false,
  async run(ctx) {
    const source = ctx.source();
    const conns = ctx.connections();
    const lines = await Promise.all(
      source.hosts().map(async (h): Promise<HostLine> => {
        const base = { name: h.name, platform: h.platform, address: h.address };
        if (h.recorded) return { ...base, ...h.recorded };
        let status: HostStatus;
        try {
          status = await (await conns.online(h.name)).status();
        } catch (err) {
          return { ...base, online: false, generation: null, runningOp: null, agentVersion: null, error: (err as Error).message };
        }
        return {
          ...base,
          online: true,
          generation: status.currentGeneration ?? null,
          runningOp: status.busy ? { id: status.busy.op, kind: status.busy.kind, since: status.busy.since } : null,
          agentVersion: status.agentVersion,
        };
      }),
    );
    if (ctx.json) {
      ctx.out.json(lines);
      return 0;
    }
    ctx.out.table(
      ['HOST', 'PLATFORM', 'ONLINE', 'GENERATION', 'OP'],
      lines.map((l) => [l.name, l.platform ?? '-', l.online ? 'online' : 'offline', l.generation === null ? '-' : String(l.generation), l.runningOp ? `${l.runningOp.kind} ${l.runningOp.id}` : '-']),
    );
    for (const l of lines) if (l.error) ctx.out.note(l.error);
    return 0;
  },
};
