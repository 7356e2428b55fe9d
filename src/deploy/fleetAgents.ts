// DeployAgents over the extension's Fleet: ops run through Fleet.runOp, so their output
// lands in each host's log channel like any other op, and the deploy sees it too.
import type { Fleet } from '../fleet/fleet';
import type { DeployAgents, OfflineQueue } from './types';

/** `queue`: where ops wait for hosts that are offline (the broker's), when there is one. */
export function fleetAgents(fleet: Fleet, queue?: OfflineQueue): DeployAgents {
  return {
    ...(queue ? { queue } : {}),
    async status(host) {
      return (await fleet.session(host)).status();
    },
    async runOp(host, kind, params, opts) {
      const off = opts.onOutput ? fleet.onOutput.on((e) => e.op === opts.opId && opts.onOutput!(e.lines)) : undefined;
      try {
        return await fleet.runOp(host, kind, params, { opId: opts.opId, magicRollback: opts.magicRollback });
      } finally {
        off?.();
      }
    },
  };
}
