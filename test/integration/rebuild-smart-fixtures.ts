// Shared by the rebuild-smart-*.test.ts files: the real-Nix test bed plus an in-process
// OpContext shaped like the op worker's (journal lines collected, commands through
// runCommand), PATH control over which test doubles (nh, chezmoi, jj) exist, and git helpers.
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readlinkSync, realpathSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { formatArgv, type OpParams, type OpResult, type OutputStream } from '../../protocol';
import { loadConfig, type AgentConfig } from '../../agent/config';
import { runCommand } from '../../agent/exec';
import { detectNix } from '../../agent/nix/info';
import { executeOp } from '../../agent/ops/registry';
import { OpError, type OpContext } from '../../agent/ops/types';
import { createTestBed, type HostSpec, type TestBed } from '../fixtures/testbed';

export const DOUBLES_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../fixtures/doubles');

import { git, gitRaw } from '../fixtures/git';
export { git, gitRaw };

/** Commit upstream (in the bed's workstation, pushed to origin) after catching up with what hosts pushed. */
export async function upstream<T>(bed: TestBed, change: (bed: TestBed) => Promise<T>): Promise<T> {
  await git(bed.workstation, 'pull', '-q', '--rebase', 'origin', 'main');
  return change(bed);
}

export async function newBed(hosts: HostSpec[] = [{ name: 'h1', platform: 'nixos' }]): Promise<TestBed> {
  const bed = await createTestBed({ hosts });
  // The bed's env carries the git identity and NIXFLEET_TESTBED_ROOT (the doubles' log).
  for (const [k, v] of Object.entries(bed.env)) if (k !== 'PATH') process.env[k] = v;
  usePath(bed, {});
  return bed;
}

/**
 * Put a PATH in place whose first directory holds exactly the chosen doubles: nh from the
 * test bed, chezmoi and jj from test/fixtures/doubles. Everything else is the system's.
 */
let pathCount = 0;
export function usePath(bed: TestBed, tools: { nh?: boolean; chezmoi?: boolean; jj?: boolean }): void {
  const dir = path.join(bed.root, `path-${++pathCount}`);
  mkdirSync(dir);
  if (tools.nh) symlinkSync(path.join(bed.binDir, 'nh'), path.join(dir, 'nh'));
  if (tools.chezmoi) symlinkSync(path.join(DOUBLES_DIR, 'chezmoi'), path.join(dir, 'chezmoi'));
  if (tools.jj) symlinkSync(path.join(DOUBLES_DIR, 'jj'), path.join(dir, 'jj'));
  const system = (process.env.NIXFLEET_SYSTEM_PATH ??= process.env.PATH ?? '/usr/bin:/bin');
  process.env.PATH = `${dir}:${system}`;
}

export interface Journal {
  lines: { stream: OutputStream; text: string }[];
  text(): string;
  info(): string[];
}

/** An OpContext like the worker's: every line into the journal, `$ argv` before each command. */
export async function makeContext(config: AgentConfig, opts: { signal?: AbortSignal; opId?: string; onLine?: (text: string) => void } = {}) {
  const journal: Journal = {
    lines: [],
    text: () => journal.lines.map((l) => l.text).join('\n'),
    info: () => journal.lines.filter((l) => l.stream === 'info').map((l) => l.text),
  };
  const log = (stream: OutputStream, text: string) => {
    journal.lines.push({ stream, text });
    opts.onLine?.(text);
  };
  const signal = opts.signal ?? new AbortController().signal;
  const ctx: OpContext = {
    config,
    opId: opts.opId ?? `rs-${Date.now()}-${Math.floor(Math.random() * 1e6)}`,
    kind: 'rebuild-smart',
    client: { name: 'test', auth: 'cli:root' },
    agentVersion: 'test',
    nix: await detectNix(),
    signal,
    log,
    run: (argv, o = {}) => {
      log('info', `$ ${formatArgv(argv)}`);
      return runCommand(argv, log, { ...o, signal: o.signal ?? signal });
    },
  };
  return { ctx, journal };
}

export interface SmartRun {
  result?: OpResult;
  error?: OpError;
  journal: Journal;
  /** The result, or the partial result a failure carried. */
  outcome: OpResult;
}

/** Run the rebuild-smart op through the registry, as the worker does. */
export async function runSmart(
  bed: TestBed,
  params: OpParams<'rebuild-smart'>,
  opts: { config?: Record<string, unknown>; signal?: AbortSignal; onLine?: (text: string) => void; host?: string } = {},
): Promise<SmartRun> {
  const config = loadConfig(bed.writeConfig(opts.host ?? 'h1', opts.config ?? {}));
  const { ctx, journal } = await makeContext(config, { signal: opts.signal, onLine: opts.onLine });
  let run: SmartRun;
  try {
    const result = await executeOp('rebuild-smart', ctx, params);
    run = { result, journal, outcome: result };
  } catch (err) {
    if (!(err instanceof OpError)) throw err;
    run = { error: err, journal, outcome: err.result ?? {} };
  }
  // For reports: RS_PHASE_LOG=FILE collects every run's phase timings.
  if (process.env.RS_PHASE_LOG) appendFileSync(process.env.RS_PHASE_LOG, JSON.stringify({ params, phases: run.outcome.phases }) + '\n');
  return run;
}

export function phaseStatus(outcome: OpResult): Record<string, string> {
  const phases = (outcome.phases ?? []) as { name: string; status: string }[];
  return Object.fromEntries(phases.map((p) => [p.name, p.status]));
}

export function currentGenerationOf(profile: string): { generation: number; path: string } | undefined {
  // Read the links as the agent does, independent of it: P -> P-N-link.
  try {
    const m = /-([0-9]+)-link$/.exec(readlinkSync(profile));
    return m ? { generation: Number(m[1]), path: realpathSync(profile) } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One bed for a whole test file, on which a first clean Rebuild Smart run has been done;
 * registers the file's before/after hooks and hands the bed to `use`.
 */
export function sharedBed(use: (bed: TestBed) => void): void {
  let bed: TestBed | undefined;
  before(async () => {
    bed = await newBed();
    use(bed);
    const first = await runSmart(bed, {});
    assert.equal(first.error, undefined, first.error?.message);
  });
  after(async () => {
    await bed?.cleanup();
  });
}
