// A switch as production runs it — a client asks the agent over its WebSocket, the agent
// accepts and spawns the op worker, the worker journals every line and records the op —
// against the same Nix commands run by hand (nix build --json --no-link, nix-env --set,
// switch-to-configuration switch), side by side on two identical hosts of one test bed,
// each round after a new commit so both really build. Goal ≤ 1.2×.
//
// Then where the op's time went, from the timestamps production already writes (the op
// record's startedAt/endedAt, each journal line's time, `$ argv` before every command), so
// the breakdown costs the measured switch nothing: accept (request → op record), the
// handoff to the agent's standby worker (op record → worker.json, which the worker writes
// once the op's first command runs; or, with the standby off or not taking it, the cold
// start: spawn and node loading the agent), the worker's set-up (→ its first line), each
// command (its `$` line → the next line the op itself writes), in-process work between
// commands, and the end (last line → the worker's endedAt → the client holding op.end).
// The parts of one round add up to its wall time. Neither side is measured while the
// agent's next standby worker loads (it starts when an op ended); its start is printed
// apart. The agent runs as configured by default (standbyWorker "auto": once
// the bench's client, an authenticated controller, ran an op, a standby waits for each switch);
// NIXFLEET_BENCH_STANDBY=never starts every worker cold. The git status runs
// through simple-git beside the build, which the journal does not time: it is timed by hand in
// the same checkout (the same argv), and so is each by-hand command, side by side.
// Standalone: node --import tsx bench/switch.bench.ts   (needs `npm run build` for dist/agent.js)
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { runCommand } from '../agent/exec';
import { workerFile } from '../agent/journal/paths';
import { parseBuildJson } from '../agent/nix/system';
import type { OpInfo, OutputLine } from '../protocol';
import { createTestBed } from '../test/fixtures/testbed';
import { connect, startAgent } from '../test/integration/agent-harness';
import { median } from './benchFleet';

// 25 rounds: the machine drifts by more than the overhead between runs; 9 rounds moved the ratio by ±0.07.
const ROUNDS = Number(process.env.NIXFLEET_BENCH_ROUNDS ?? 25);

/** One switch through the agent, with the client's own clock around it. */
interface Sample {
  ms: number;
  worker: { startTicks?: string; recordedAt: number };
  sentAt: number;
  doneAt: number;
  op: OpInfo;
  lines: OutputLine[];
}

/** Milliseconds per named part of one switch. */
type Parts = Map<string, number>;

/** What a `$ argv` line ran, as the breakdown names it. */
function commandName(argvText: string): string {
  const words = argvText.split(' ');
  const prog = words[0]!.split('/').pop()!;
  if (prog === 'nix') return `nix ${words[1]}`;
  if (prog === 'nix-env') return `nix-env ${words.find((w) => w.startsWith('--') && w !== '--profile') ?? ''}`.trim();
  return prog;
}

/** Wall-clock ms of boot, for /proc's process start times (clock ticks since boot). */
const bootMs = (() => {
  try {
    return Date.now() - Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;
  } catch {
    return undefined;
  }
})();
const TICKS_PER_S = 100;

/** A journal line's words without store paths, ids and numbers, to name what follows it. */
function stepName(text: string): string {
  const words = text
    .replace(/\/nix\/store\/\S+|\/tmp\/\S+|bench-switch-\S+|\(.*\)/g, '')
    .replace(/host \S+: /, '')
    .replace(/\b\d+\b/g, 'N')
    .trim()
    .split(/\s+/)
    .slice(0, 3)
    .join(' ');
  return `worker after "${words}"`;
}

function breakdown(s: Sample, worker: { startTicks?: string; recordedAt: number }): Parts {
  const parts: Parts = new Map();
  const add = (name: string, ms: number) => parts.set(name, (parts.get(name) ?? 0) + ms);
  const t = (iso: string) => Date.parse(iso);
  const started = t(s.op.startedAt);
  add('accept: request → op record', started - s.sentAt);
  // The op's own lines (info, without build progress) mark its steps; a command's
  // output and progress lines belong to that command.
  const own = s.lines.filter((l) => l.stream === 'info' && !l.progress);
  if (!own.length) throw new Error(`op ${s.op.id} journaled no line of its own`);
  // worker.json is written once the op's first command runs (a standby started it when the
  // agent took the host lock; a cold worker, first thing): its mtime splits the start in two
  // (at the file system's timestamp granularity, ~4 ms on ext4 here: the two parts' sum is
  // finer than either).
  const execAt = bootMs !== undefined && worker.startTicks ? bootMs + (Number(worker.startTicks) * 1000) / TICKS_PER_S : undefined;
  // A worker process older than the request is the agent's standby worker (started before, ready).
  if (execAt !== undefined && execAt < s.sentAt) {
    add('handoff: op record → the standby claims it (→ worker.json; the build runs already)', worker.recordedAt - started);
  } else if (execAt !== undefined) {
    add('worker start: spawn (op record → worker process)', execAt - started);
    add('worker start: node loads the agent (→ worker.json)', worker.recordedAt - execAt);
  } else add('worker start: spawn and node load (op record → worker.json)', worker.recordedAt - started);
  // The build was started ahead (agent/runner/headStart.ts) before this part: its `$` line
  // below marks when the op took the running build over, not when it started.
  add('worker start: cancel check, lock (→ first line)', t(own[0]!.time) - worker.recordedAt);
  for (let i = 0; i < own.length - 1; i++) {
    const here = own[i]!;
    const ms = t(own[i + 1]!.time) - t(here.time);
    add(here.text.startsWith('$ ') ? commandName(here.text.slice(2)) : stepName(here.text), ms);
  }
  // The worker stamps endedAt just before it writes the final op record.
  add('end: last line → worker ends the op (journal closed)', t(s.op.endedAt!) - t(own.at(-1)!.time));
  add('end: worker writes op record → op.end at the client', s.doneAt - t(s.op.endedAt!));
  return parts;
}

/**
 * Wait until the agent's standby worker is ready (standby/<id>/standby.json, written once it
 * loaded); resolves with how long it took from the agent's spawn (agent.json) to ready.
 */
async function standbyReady(stateDir: string): Promise<number> {
  const root = path.join(stateDir, 'standby');
  const until = Date.now() + 30_000;
  for (;;) {
    for (const id of existsSync(root) ? readdirSync(root).filter((n) => /^[0-9a-f]{12}$/.test(n)) : []) {
      try {
        return statSync(path.join(root, id, 'standby.json')).mtimeMs - statSync(path.join(root, id, 'agent.json')).mtimeMs;
      } catch {
        /* not ready yet */
      }
    }
    if (Date.now() > until) throw new Error(`no standby worker became ready under ${root} within 30 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function main(): Promise<void> {
  const bed = await createTestBed({ hosts: [{ name: 'ours', platform: 'nixos' }, { name: 'byhand', platform: 'nixos' }] });
  // NIXFLEET_BENCH_STANDBY=never|always|auto: the agent's standbyWorker (unset: its default, auto).
  const mode = process.env.NIXFLEET_BENCH_STANDBY;
  if (mode !== undefined && !['never', 'always', 'auto'].includes(mode)) throw new Error(`NIXFLEET_BENCH_STANDBY must be never, always or auto, not "${mode}"`);
  const standbyOn = mode !== 'never';
  const standbyStarts: number[] = [];
  const agent = await startAgent(bed, 'ours', mode ? { overrides: { standbyWorker: mode } } : {});
  const client = connect(agent, bed.token);
  try {
    await client.connect();
    await client.status(); // as the editor does when it connects
    const ours: Sample[] = [];
    const base: number[] = [];
    const git: number[] = [];
    const handParts: Parts[] = [];
    const quiet = () => {};
    const hand = bed.host('byhand');
    const mine = bed.host('ours');
    for (let r = 0; r <= ROUNDS; r++) {
      // A commit per side: the two checkouts never hold the same tree, so neither finds the
      // other's copy of the flake's source in the store (whoever went second did, and a
      // round's two switches compared a copy with none).
      for (const h of [mine, hand]) {
        await bed.commit({ [`hosts/${h.name}/version`]: `24.11.${r}\n` }, `round ${r}: ${h.name}`);
        execFileSync('git', ['pull', '-q', '--ff-only'], { cwd: h.checkout, env: bed.env });
      }
      const runBaseline = async () => {
        const t = performance.now();
        const built = await runCommand(['nix', 'build', '--json', '--no-link', `${hand.checkout}#${hand.attr}`], quiet, { capture: true, quietStdout: true });
        const t1 = performance.now();
        const out = parseBuildJson(built.stdout);
        await runCommand(['nix-env', '-p', hand.profile, '--set', out], quiet);
        const t2 = performance.now();
        await runCommand([`${out}/bin/switch-to-configuration`, 'switch'], quiet);
        const t3 = performance.now();
        if (r > 0) handParts.push(new Map([['nix build', t1 - t], ['nix-env --set', t2 - t1], ['switch-to-configuration', t3 - t2]]));
        return t3 - t;
      };
      const runOurs = async () => {
        const id = `bench-switch-${process.pid}-${r}`;
        const t = performance.now();
        const sentAt = Date.now();
        await client.startOp(id, 'switch', {});
        const { op, lines } = await client.follow(id);
        const ms = performance.now() - t;
        const doneAt = Date.now();
        if (op.state !== 'succeeded') throw new Error(`switch ${id} ${op.state}: ${op.error}`);
        if (op.result?.generationAfter !== r + 1) throw new Error(`switch made generation ${op.result?.generationAfter}, expected ${r + 1}`);
        // Written by the worker at its start (agent/runner/request.ts): pid, /proc start time.
        const workerJson = workerFile(mine.stateDir, id);
        const worker = { startTicks: (JSON.parse(readFileSync(workerJson, 'utf8')) as { startTime?: string }).startTime, recordedAt: statSync(workerJson).mtimeMs };
        return { ms, worker, sentAt, doneAt, op, lines };
      };
      // The one git process of a switch (agent/git/sync.ts checkoutRevision), by hand.
      const runGit = async () => {
        const t = performance.now();
        await runCommand(['git', 'status', '--porcelain=v2', '--branch', '--untracked-files=no'], quiet, { cwd: mine.checkout, capture: true, quietStdout: true });
        return performance.now() - t;
      };
      // The agent starts its next standby worker when an op ends: neither side is measured
      // while it loads (it costs the op nothing then; its own start is printed below).
      // ("auto" starts its first standby once the client's first op, round 0's, ended.)
      const settle = async () => {
        if (standbyOn && (r > 0 || mode === 'always')) standbyStarts.push(await standbyReady(mine.stateDir));
      };
      // Alternate who goes first; round 0 warms both up and is not counted.
      let a: Sample;
      let b: number;
      await settle();
      if (r % 2) {
        a = await runOurs();
        await settle();
        b = await runBaseline();
      } else {
        b = await runBaseline();
        a = await runOurs();
      }
      const g = await runGit();
      if (r > 0) {
        ours.push(a);
        base.push(b);
        git.push(g);
      }
    }
    const o = median(ours.map((s) => s.ms));
    const b = median(base);
    // The same ratio per round (each round's two switches run back to back): the machine's
    // speed drifts between rounds by more than the overhead, and a round's pair shares it.
    const paired = median(ours.map((s, i) => s.ms / base[i]!));
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.log(`switch: ${(o / b).toFixed(3)}x (${o.toFixed(1)} ms through the agent vs ${b.toFixed(1)} ms by hand; median of ${ROUNDS}; per-round ratio ${paired.toFixed(3)}x; standbyWorker ${mode ?? 'auto (default)'}; load ${load}) goal <=1.2`);
    // Each part's median over the rounds; the parts of one round add up to its wall time.
    const all = ours.map((x) => breakdown(x, x.worker));
    const names = [...new Set(all.flatMap((p) => [...p.keys()]))];
    const lines = names.map((n) => ({ n, ms: median(all.map((p) => p.get(n) ?? 0)) })).sort((x, y) => y.ms - x.ms);
    console.log(`switch per-op parts (median of ${ROUNDS}, ms; the nix commands are the by-hand ones plus their journaling; nix build from its $ line, some ms after it was started ahead):`);
    for (const { n, ms } of lines) console.log(`  ${ms.toFixed(1).padStart(8)}  ${n}`);
    for (const n of ['nix build', 'nix-env --set', 'switch-to-configuration']) console.log(`  ${median(handParts.map((p) => p.get(n)!)).toFixed(1).padStart(8)}  (${n} by hand)`);
    console.log(`  ${median(git).toFixed(1).padStart(8)}  (git status --porcelain=v2 by hand: the switch's git call, beside its nix build)`);
    if (standbyOn) console.log(`  (standby worker start, off the op's path: ${median(standbyStarts).toFixed(1)} ms from its spawn to ready, median of ${standbyStarts.length})`);
    console.log(`switch-overhead: ${(o - b).toFixed(1)} ms per switch over the commands by hand; journal lines per switch: ${median(ours.map((s) => s.lines.length))}`);
  } finally {
    client.close();
    await agent.stop();
    await bed.cleanup();
  }
}

main().catch((err) => {
  console.error(`switch bench failed: ${(err as Error).message}`);
  process.exit(1);
});
