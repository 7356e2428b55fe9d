// Shared by the reliability scenarios: the scenario contract, profile-integrity checks
// against nix-env, a loopback relay whose connections can be cut, RSS sampling and
// small helpers over the real-Nix test bed and the agent harness.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { OutputLine } from '../../protocol';
import { readAllLines } from '../../agent/journal/reader';
import type { TestBed } from '../fixtures/testbed';

const execFileP = promisify(execFile);

export interface ScenarioContext {
  quick: boolean;
  /** Print a progress or detail line (indented, to stderr so the contract lines stay clean). */
  note(text: string): void;
}

export interface ScenarioOutcome {
  trials: number;
  failures: number;
  /** Figures worth reporting beside the contract line (latencies, RSS, ...). */
  figures?: string;
}

export interface Scenario {
  name: string;
  run(ctx: ScenarioContext): Promise<ScenarioOutcome>;
}

/** Counts trials; a failed trial records why (printed as a note). */
export class Tally {
  trials = 0;
  failures = 0;
  readonly reasons: string[] = [];
  constructor(private readonly ctx: ScenarioContext) {}

  async trial(label: string, fn: () => Promise<void>): Promise<boolean> {
    this.trials++;
    try {
      await fn();
      return true;
    } catch (err) {
      this.failures++;
      const msg = err instanceof Error ? err.message : String(err);
      this.reasons.push(`${label}: ${msg}`);
      this.ctx.note(`FAIL ${label}: ${msg.split('\n').slice(0, 4).join(' | ')}`);
      return false;
    }
  }

  outcome(figures?: string): ScenarioOutcome {
    return { trials: this.trials, failures: this.failures, figures };
  }
}

export class Check extends Error {}
export function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Check(message);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reject after `ms` with a message naming what was awaited. */
export function within<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Check(`${what} did not happen within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------- profile integrity

export interface ProfileView {
  /** Generation numbers from the P-N-link files. */
  numbers: number[];
  /** Store path per generation (link target). */
  targets: Map<number, string>;
  current: number | undefined;
}

/** Read a profile's links directly. */
export function readProfileLinks(profile: string): ProfileView {
  const dir = path.dirname(profile);
  const base = path.basename(profile);
  const re = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)-link$`);
  const targets = new Map<number, string>();
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const m = re.exec(name);
    if (m) targets.set(Number(m[1]), readlinkSync(path.join(dir, name)));
  }
  let current: number | undefined;
  if (existsSync(profile) || targets.size) {
    try {
      const cur = readlinkSync(profile);
      const m = re.exec(path.basename(cur));
      current = m ? Number(m[1]) : undefined;
    } catch {
      current = undefined;
    }
  }
  return { numbers: [...targets.keys()].sort((a, b) => a - b), targets, current };
}

/** `nix-env -p P --list-generations`: numbers and the current one. */
export async function nixEnvGenerations(profile: string, env: Record<string, string>): Promise<{ numbers: number[]; current?: number }> {
  const { stdout } = await execFileP('nix-env', ['-p', profile, '--list-generations'], { env });
  const numbers: number[] = [];
  let current: number | undefined;
  for (const line of stdout.split('\n')) {
    const m = /^\s*(\d+)\s+\S+\s+\S+\s*(\(current\))?\s*$/.exec(line);
    if (!m) continue;
    numbers.push(Number(m[1]));
    if (m[2]) current = Number(m[1]);
  }
  return { numbers, current };
}

/**
 * The profile is consistent: every link resolves to a store path that exists, the
 * profile points at one of them, nix-env lists exactly the same generations with the
 * same current one, and none of `before` was lost.
 */
export async function assertProfileIntact(profile: string, env: Record<string, string>, before?: ProfileView): Promise<ProfileView> {
  const view = readProfileLinks(profile);
  if (view.numbers.length === 0 && !existsSync(profile) && !before?.numbers.length) return view; // never switched yet
  check(view.current !== undefined, `profile ${profile} does not point at a generation link`);
  check(view.targets.has(view.current), `profile ${profile} points at generation ${view.current}, which has no link`);
  for (const [n, target] of view.targets) check(existsSync(target), `generation ${n} links to ${target}, which is not in the store`);
  const listed = await nixEnvGenerations(profile, env);
  check(
    JSON.stringify(listed.numbers) === JSON.stringify(view.numbers),
    `nix-env lists generations ${listed.numbers.join(',')} but the links are ${view.numbers.join(',')}`,
  );
  check(listed.current === view.current, `nix-env says generation ${listed.current} is current, the profile link says ${view.current}`);
  if (before) {
    for (const n of before.numbers) {
      check(view.targets.has(n), `generation ${n} was lost (before: ${before.numbers.join(',')}; after: ${view.numbers.join(',')})`);
      check(view.targets.get(n) === before.targets.get(n), `generation ${n} now links to another store path`);
    }
  }
  return view;
}

// ---------------------------------------------------------------- journals

export const journalPath = (stateDir: string, opId: string) => path.join(stateDir, 'ops', opId, 'journal.jsonl');

/** The client's copy equals the journal: same lines, same order, seq 1..N, no duplicate. */
export async function assertSameAsJournal(got: OutputLine[], stateDir: string, opId: string, lastSeq?: number): Promise<void> {
  const journal = await readAllLines(journalPath(stateDir, opId));
  const seqs = new Set<number>();
  for (const l of got) {
    check(!seqs.has(l.seq), `op ${opId}: line seq ${l.seq} reached the client twice`);
    seqs.add(l.seq);
  }
  const byJournal = new Map(journal.map((l) => [l.seq, JSON.stringify(l)]));
  for (const l of got) check(byJournal.get(l.seq) === JSON.stringify(l), `op ${opId}: line seq ${l.seq} the client got is not in the journal as sent`);
  check(got.length === journal.length, `op ${opId}: client has ${got.length} lines, the journal ${journal.length} (lost ${journal.length - got.length})`);
  got.forEach((l, i) => check(l.seq === i + 1, `op ${opId}: line ${i + 1} has seq ${l.seq} (gap or reorder)`));
  if (lastSeq !== undefined) check(lastSeq === journal.length, `op ${opId}: lastSeq ${lastSeq} but the journal holds ${journal.length} lines`);
}

/** Every line the client received before a crash is in the journal, byte for byte. */
export async function assertReceivedInJournal(got: OutputLine[], stateDir: string, opId: string): Promise<void> {
  const journal = await readAllLines(journalPath(stateDir, opId));
  const byJournal = new Map(journal.map((l) => [l.seq, JSON.stringify(l)]));
  for (const l of got) check(byJournal.get(l.seq) === JSON.stringify(l), `op ${opId}: streamed line seq ${l.seq} is missing from the journal`);
}

export function opDirs(stateDir: string): string[] {
  const d = path.join(stateDir, 'ops');
  return existsSync(d) ? readdirSync(d).sort() : [];
}

export function fileText(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

// ---------------------------------------------------------------- processes

/** Resident set size of a process in bytes (from /proc), or undefined when it is gone. */
export function rssOf(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function workerPid(stateDir: string, opId: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(path.join(stateDir, 'ops', opId, 'worker.json'), 'utf8')) as { pid: number }).pid;
  } catch {
    return undefined;
  }
}

/** Bring a bed host's checkout to origin/main (the agent builds from the checkout). */
export async function pullCheckout(bed: TestBed, host: string): Promise<void> {
  await execFileP('git', ['-C', bed.host(host).checkout, 'pull', '-q', '--ff-only', 'origin', 'main'], { env: bed.env });
}

// ---------------------------------------------------------------- network

/**
 * A loopback TCP relay standing for the network between controller and agent. `cut()`
 * resets its connections (RST, no close handshake); `down()` does that and then drops
 * every new connection on the floor (accepted, never forwarded, no answer: a dead route,
 * not a refusal) until `up()`.
 */
export interface Relay {
  port: number;
  cut(): number;
  down(): number;
  up(): void;
  /** Connections attempted while down. */
  readonly dropped: number;
  close(): void;
}

export async function relay(targetPort: () => number): Promise<Relay> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const held = new Set<net.Socket>();
  let isDown = false;
  let dropped = 0;
  const server = net.createServer((a) => {
    if (isDown) {
      dropped++;
      held.add(a);
      a.on('error', () => {}).on('close', () => held.delete(a));
      a.pause();
      return;
    }
    const b = net.connect(targetPort(), '127.0.0.1');
    const pair: [net.Socket, net.Socket] = [a, b];
    pairs.add(pair);
    a.pipe(b).pipe(a);
    const drop = () => {
      a.destroy();
      b.destroy();
      pairs.delete(pair);
    };
    a.on('error', drop).on('close', drop);
    b.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const cut = () => {
    const n = pairs.size;
    for (const [a, b] of [...pairs]) {
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    pairs.clear();
    return n;
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    cut,
    down() {
      isDown = true;
      return cut();
    },
    up() {
      isDown = false;
      for (const s of held) s.destroy();
      held.clear();
    },
    get dropped() {
      return dropped;
    },
    close() {
      for (const [a, b] of pairs) (a.destroy(), b.destroy());
      for (const s of held) s.destroy();
      server.close();
    },
  };
}

/** Deterministic PRNG (mulberry32) so a failing run can be replayed with its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------- agents

import { startAgent as harnessStart, type RunningAgent, type StartOptions } from '../integration/agent-harness';

const started = new Set<RunningAgent>();

/** Start an agent (harness), remembered so that `stopAllAgents` ends it even after a failed trial. */
export async function startAgent(bed: TestBed, host: string, opts: StartOptions = {}): Promise<RunningAgent> {
  const a = await harnessStart(bed, host, { ...opts, env: { NIXFLEET_NO_SYSTEMD: '1', ...(opts.env ?? {}) } });
  started.add(a);
  void a.exited.then(() => started.delete(a));
  return a;
}

export async function stopAllAgents(): Promise<void> {
  await Promise.all([...started].map((a) => a.kill9()));
}

/**
 * Kill every op worker (process group) still running under a state dir, and the agent's
 * standby workers, ready or still loading (they go by themselves within a second of their
 * agent's death, but a loading one writes its rehearsal in its directory meanwhile, and the
 * bed is removed at once): a failed trial must not leak, and cleanup must not race them.
 */
export function killWorkers(stateDir: string): void {
  for (const id of opDirs(stateDir)) {
    const pid = workerPid(stateDir, id);
    if (pid && alive(pid)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  // Standbys and workers by their command line (`--state-dir DIR`): a loading standby and a
  // worker that has not recorded itself yet are named in no file.
  for (const pid of processesUsing(stateDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** Pids whose command line has `--state-dir <stateDir>` (Linux /proc). */
function processesUsing(stateDir: string): number[] {
  const pids: number[] = [];
  for (const n of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(n) || Number(n) === process.pid) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // exited meanwhile
    }
    const i = argv.indexOf('--state-dir');
    if (i >= 0 && argv[i + 1] === stateDir) pids.push(Number(n));
  }
  return pids;
}
