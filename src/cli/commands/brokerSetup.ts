// nixfleet broker-setup: create (or bring in line) the broker's streams and status bucket
// with the replicas the cluster has, before agents and controllers use it. A controller
// that finds them missing does not create them behind the operator's back with a guessed
// replica count; this is the one place that decides it.
import { intArg, stringFlag, UsageError } from '../args';
import type { Command } from '../command';
import { BrokerClient } from '../../broker/client';
import { duration, MAX_REPLICAS, setupBroker } from '../../broker/setup';
import { cliClientName } from '../hosts/direct';

export const brokerSetupCommand: Command = {
  name: 'broker-setup',
  summary: 'create or update the broker\'s streams and status bucket (once per broker, and after adding nodes)',
  details: [
    'Needs --broker URL[,URL…] and the operator\'s --credentials FILE. Creates what is missing and brings',
    `what exists to --replicas N (default 1; 3 or 5 for a cluster, at most ${MAX_REPLICAS}) and the kept times of`,
    'docs/broker.md (journals 30 days, audit records a year, queued ops a week). Running it again changes',
    'nothing that is already right; it prints what it found and did for each stream and the bucket.',
  ].join('\n'),
  positionals: [],
  flags: {
    replicas: { type: 'string', value: 'N', help: `copies of each stream and of the bucket (1 for one server, up to ${MAX_REPLICAS} in a cluster); default 1` },
  },
  mutating: false,
  brokerOnly: true,
  async run(ctx) {
    if (stringFlag(ctx.flags, 'hosts-file') !== undefined || stringFlag(ctx.flags, 'tokens-file') !== undefined) {
      throw new UsageError('broker-setup: it sets up a broker, not hosts: give --broker URL and --credentials FILE instead of --hosts-file/--tokens-file');
    }
    const replicasText = stringFlag(ctx.flags, 'replicas');
    const replicas = replicasText === undefined ? 1 : intArg('broker-setup', 'replicas', replicasText, 1, MAX_REPLICAS);
    const login = ctx.brokerLogin();
    if (!login) throw new UsageError('broker-setup: say which broker: --broker nats://HOST:PORT (or tls://, several for a cluster separated by commas) or $NIXFLEET_BROKER');
    const broker = await BrokerClient.connect({ servers: login.urls, credentials: login.credentials, name: cliClientName() });
    try {
      const steps = await setupBroker(broker.nc, broker.jsm, { replicas, update: true });
      if (ctx.json) {
        ctx.out.json(steps);
        return 0;
      }
      ctx.out.table(
        ['WHAT', 'NAME', 'ACTION', 'REPLICAS', 'KEPT', 'CHANGES'],
        steps.map((s) => [s.kind, s.name, s.action, String(s.replicas), s.kind === 'bucket' ? 'latest record per host' : duration(s.maxAgeMs), s.changes.join('; ') || '-']),
      );
      return 0;
    } finally {
      await broker.close();
    }
  },
};
