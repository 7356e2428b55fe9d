// Agent idle RSS (serve, listening, one connected client that asked for status and
// generations, no op running) against a bare `node -e "setInterval(()=>{},1e9)"`, side
// by side. Goal ≤ 1.5× for the agent's process. The agent measured is the bundle hosts
// run: scripts/build.mjs --production (minified, as nix/package.nix builds it), built
// here into a temporary directory. (dist/agent.js, the development bundle the tests use,
// keeps its comments, and a few of them are not Latin-1: V8 then holds its 2.3 MB source
// as a two-byte string, 4.6 MB that no host carries.) While a controller runs ops on the
// host (`standbyWorker` "auto", the default: here the client's switch) the host also keeps
// the agent's standby worker (a loaded worker waiting for the next op): printed too, agent
// + standby, which is what the host pays then; a host nobody operated on for
// standbyIdleTimeout pays the agent's process alone. Measured after 45 s without traffic:
// V8's memory reducer gives back the start-up heap in steps over the first ~40 s after
// the last activity (at 25 s some runs still hold it), and an agent spends its life idle;
// the figure right after the last request is printed too.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestBed } from '../test/fixtures/testbed';
import { connect, ROOT, startAgent } from '../test/integration/agent-harness';

/** How long the agent is left without traffic before it is measured. */
const IDLE_MS = 45_000;

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pid of the agent's ready standby worker (standby/<id>/standby.json), if any. */
function standbyPid(stateDir: string): number | undefined {
  const root = path.join(stateDir, 'standby');
  for (const id of existsSync(root) ? readdirSync(root).filter((n) => /^[0-9a-f]{12}$/.test(n)) : []) {
    try {
      return (JSON.parse(readFileSync(path.join(root, id, 'standby.json'), 'utf8')) as { pid: number }).pid;
    } catch {
      /* not ready */
    }
  }
  return undefined;
}

/** The production bundle of the agent, built into a temporary directory: its agent.js. */
function buildShipped(dir: string): string {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs'), '--production', '--only=agent', `--outdir=${dir}`], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the production agent bundle failed: ${r.stderr}`);
  return path.join(dir, 'agent.js');
}

async function main(): Promise<void> {
  const shipped = mkdtempSync(path.join(tmpdir(), 'nixfleet-idle-rss-'));
  const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  const bare: ChildProcess = spawn(process.execPath, ['-e', 'setInterval(()=>{},1e9)'], { stdio: 'ignore' });
  // The default standbyWorker ("auto"): the client's switch below starts the standby.
  const agent = await startAgent(bed, 'h1', { agentJs: buildShipped(shipped) });
  try {
    // A client connected and served a status, as in normal use; then idle.
    const c = connect(agent, bed.token, { reconnect: false });
    await c.connect();
    await c.status();
    await c.generations();
    const run = await c.startOp('idle-rss-switch', 'switch', {}).then(() => c.follow('idle-rss-switch'));
    if (run.op.state !== 'succeeded') throw new Error(`the bench's switch ${run.op.state}: ${run.op.error}`);
    await c.status();
    await sleep(1000);
    let standby = standbyPid(bed.host('h1').stateDir);
    for (let i = 0; i < 300 && standby === undefined; i++) {
      await sleep(100);
      standby = standbyPid(bed.host('h1').stateDir);
    }
    if (standby === undefined) throw new Error('the agent has no ready standby worker 30 s after its start (the switch of its client should have started one)');
    const [wa, wb] = [rssKb(agent.proc.pid!), rssKb(bare.pid!)];
    await sleep(IDLE_MS - 1000);
    const samples: [number, number, number][] = [];
    for (let i = 0; i < 5; i++) {
      samples.push([rssKb(agent.proc.pid!), rssKb(bare.pid!), rssKb(standby)]);
      await sleep(200);
    }
    const a = Math.max(...samples.map((s) => s[0]));
    const b = Math.max(...samples.map((s) => s[1]));
    const w = Math.max(...samples.map((s) => s[2]));
    console.log(`idle-rss: ${(a / b).toFixed(2)}x (agent ${(a / 1024).toFixed(1)} MiB vs bare node ${(b / 1024).toFixed(1)} MiB, after ${IDLE_MS / 1000} s idle, production bundle; its process alone, as when no standby waits) goal <=1.5`);
    console.log(`idle-rss-with-standby: ${((a + w) / b).toFixed(2)}x (agent ${(a / 1024).toFixed(1)} MiB + standby worker ${(w / 1024).toFixed(1)} MiB vs bare node ${(b / 1024).toFixed(1)} MiB: what the host pays while a standby waits) info`);
    console.log(`idle-rss-1s-after-request: ${(wa / wb).toFixed(2)}x (agent ${(wa / 1024).toFixed(1)} MiB vs bare node ${(wb / 1024).toFixed(1)} MiB) info`);
    c.close();
  } finally {
    bare.kill();
    await agent.stop();
    await bed.cleanup();
    rmSync(shipped, { recursive: true, force: true });
  }
}

await main();
