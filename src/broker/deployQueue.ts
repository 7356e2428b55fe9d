// The deploy's OfflineQueue (src/deploy/types.ts) on the broker: a host that the status
// bucket shows offline gets its op in the broker's work queue (queue.ts) and the deploy
// follows the op's journal in the stream (journal.ts) until its final record, which the
// host publishes when it ran the op, or when it found the op expired. That it runs is seen
// in the bucket (the host's record names the op it is busy with), not read from its lines:
// an expired op writes a line too, and never runs.
import type { OfflineQueue } from '../deploy/types';
import type { BrokerDiscovery } from './discoverySource';
import { followJournal } from './journal';
import { queueOp } from './queue';

export function brokerOfflineQueue(broker: () => BrokerDiscovery | undefined, clientName: string, opts: { expiresInMs?: number } = {}): OfflineQueue {
  return {
    offline(host) {
      const h = broker()?.record(host);
      // Without a last status there is no generation to return to: such a host is not deployed blind.
      return h && !h.online && h.record.status ? h.record.status : undefined;
    },
    async run(host, kind, params, o) {
      const b = broker();
      const js = b?.js;
      if (!js) throw new Error(`cannot queue ${kind} for host ${host}: the broker ${b?.description ?? '(nixfleet.broker)'} is not connected${b?.problem ? ` (${b.problem})` : ''}`);
      const q = await queueOp(js, host, { op: o.opId, kind, params, client: clientName, ...(opts.expiresInMs !== undefined ? { expiresInMs: opts.expiresInMs } : {}) });
      o.onQueued(q);
      const unwatch = b.watch((h) => {
        if (h.host === host && h.record.status?.busy?.op === o.opId) o.onRunning();
      });
      try {
        return await followJournal(js, host, o.opId, (lines) => o.onOutput?.(lines)).done;
      } finally {
        unwatch();
      }
    },
  };
}
