// The deploy engine's view of the hosts (src/deploy/types.ts DeployAgents) over the CLI's
// connections: the same runDeploy the extension runs, with ops started and followed by
// runOp (magic rollback confirmed over a new connection, as the extension's Fleet does).
import type { DeployAgents } from '../deploy/types';
import type { Connections } from './hosts/connections';
import { runOp } from './runOp';

export function cliDeployAgents(conns: Connections, onNotice: (host: string, text: string) => void, onLines?: (host: string, lines: import('../../protocol').OutputLine[]) => void): DeployAgents {
  return {
    async status(host) {
      return (await conns.online(host)).status();
    },
    runOp(host, kind, params, opts) {
      return runOp(conns, host, kind, params, {
        opId: opts.opId,
        magicRollback: opts.magicRollback,
        onLines: (lines) => {
          opts.onOutput?.(lines);
          onLines?.(host, lines);
        },
        onNotice: (text) => onNotice(host, text),
      });
    },
  };
}
