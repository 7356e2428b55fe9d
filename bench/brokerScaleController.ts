// The controller side of broker-scale.bench.ts, in a process of its own so its memory is
// the controller's alone: the CLI's core as `nixfleet --broker` runs it (BrokerHostSource on
// one broker connection, Connections, the deploy core's runDeploy with magic rollback).
// The bench bundles this file like dist/nixfleet.js (no tsx in the measured process) and
// sends one JSON command per stdin line; each is answered with one JSON line on stdout:
//   {"cmd":"open","expect":N}   connect and load the status bucket (timed), until N hosts are online
//   {"cmd":"memory"}            RSS and heap after a full GC, the source kept open
//   {"cmd":"deploy","hosts":[…],"commit":"…","parallelism":P}  a deploy through runDeploy (timed)
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { BrokerHostSource } from '../src/cli/hosts/broker';
import { Connections } from '../src/cli/hosts/connections';
import { cliDeployAgents } from '../src/cli/deployAgents';
import { planDeploy } from '../src/deploy/plan';
import { runDeploy } from '../src/deploy/run';

const [servers, credentialsFile] = [process.argv[2]!.split(','), process.argv[3]!];
const credentials = readFileSync(credentialsFile, 'utf8');
let source: BrokerHostSource | undefined;

const mib = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10;

function memory() {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed), externalMiB: mib(m.external) };
}

async function open(expect: number) {
  if (source) await source.close();
  source = undefined;
  const t0 = performance.now();
  const s = await BrokerHostSource.connect(servers, credentials);
  const loadedMs = performance.now() - t0;
  // Agents that published before the watch started are all in the initial load; wait (bounded)
  // for any still coming up so the figure is "knows N hosts online".
  const until = Date.now() + 120_000;
  let online = 0;
  for (;;) {
    const hosts = s.hosts();
    online = hosts.filter((h) => h.recorded?.online).length;
    if (online >= expect || Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  source = s;
  return { ms: performance.now() - t0, loadedMs, hosts: s.hosts().length, online };
}

async function deploy(hosts: string[], commit: string, parallelism: number) {
  if (!source) throw new Error('open first');
  const conns = new Connections(source, 60_000);
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  const notices: string[] = [];
  const record = planDeploy({ target: { commit }, hosts, parallelism, who: 'broker-scale-bench' });
  const t0 = performance.now();
  try {
    const res = await runDeploy({ agents: cliDeployAgents(conns, (host, text) => /could not confirm/.test(text) && notices.push(`${host}: ${text}`)), record, magicRollback: true });
    const ms = performance.now() - t0;
    const failed = res.hosts.filter((h) => h.outcome !== 'succeeded');
    const durations = res.hosts.filter((h) => h.startedAt && h.endedAt).map((h) => ({ host: h.host, ms: Date.parse(h.endedAt!) - Date.parse(h.startedAt!) }));
    return { ms, state: res.state, failed: failed.slice(0, 5).map((h) => `${h.host} ${h.outcome}: ${h.error ?? ''}`), failedCount: failed.length, notices: notices.slice(0, 5), durations, peakRssMiB: mib(peak) };
  } finally {
    clearInterval(sampler);
    conns.closeAll();
  }
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const cmd = JSON.parse(line) as { cmd: string; expect?: number; hosts?: string[]; commit?: string; parallelism?: number };
  try {
    const out = cmd.cmd === 'open' ? await open(cmd.expect!) : cmd.cmd === 'memory' ? memory() : cmd.cmd === 'deploy' ? await deploy(cmd.hosts!, cmd.commit!, cmd.parallelism!) : { error: `unknown command ${cmd.cmd}` };
    process.stdout.write(JSON.stringify(out) + '\n');
  } catch (err) {
    process.stdout.write(JSON.stringify({ error: (err as Error).message }) + '\n');
  }
}
await source?.close();
