// A process of HostSimulators (bench/hostSimulator.ts — not agents) for broker-scale.bench.ts:
// `node --import tsx bench/hostSimulatorMain.ts SPEC.json`. SPEC: { servers, opMs, opLines,
// confirmTimeoutS, hosts: [{ host, credentials: FILE }] }. Prints one JSON line
// {"ready":N,"ms":…} once every host published its first record; SIGTERM stops them.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { hostName } from '../protocol';
import { HostSimulator } from './hostSimulator';

const spec = z
  .strictObject({
    servers: z.array(z.string().regex(/^nats:\/\/127\.0\.0\.1:\d+$/)).min(1),
    opMs: z.number().int().min(0).max(600_000),
    opLines: z.number().int().min(1).max(100_000),
    confirmTimeoutS: z.number().int().min(1).max(3600),
    hosts: z.array(z.strictObject({ host: hostName, credentials: z.string().min(1) })).min(1),
  })
  .parse(JSON.parse(readFileSync(process.argv[2]!, 'utf8')));

const sims = spec.hosts.map((h) => new HostSimulator(h.host, { servers: spec.servers, credentials: readFileSync(h.credentials, 'utf8'), opMs: spec.opMs, opLines: spec.opLines, confirmTimeoutS: spec.confirmTimeoutS }));
const t0 = performance.now();
// A few dials at once, as agents coming up over a while would.
let next = 0;
await Promise.all(
  Array.from({ length: 4 }, async () => {
    while (next < sims.length) await sims[next++]!.start();
  }),
);
process.stdout.write(JSON.stringify({ ready: sims.length, ms: Math.round(performance.now() - t0) }) + '\n');

process.on('SIGTERM', () => {
  void Promise.all(sims.map((s) => s.stop())).finally(() => process.exit(0));
});
