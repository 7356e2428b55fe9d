// What an op is, in one place: its kind, params and result schemas, what it does to the
// host, whether it restarts the agent, its CLI command, its validation, run and post-check,
// and the rule applied when its end is seen. Adding an operation means one OpDefinition
// and one registry line; the worker, the CLI, the server and the tests read nothing else.
import type { z } from 'zod';
import type { ClientIdentity, OpInfo, OpKind, OpResult, OutputStream, opParams, opResults } from '../../protocol';
import type { AgentConfig } from '../config';
import type { RunOptions, RunResult } from '../exec';

export interface NixInfo {
  /** e.g. "2.8.0" */
  version: string;
  /** Nix ≥ 2.19 spells input updates `nix flake update X`; older `nix flake lock --update-input X`. */
  flakeUpdateInput(input: string): string[];
}

/** What an op's code may do: log to its journal, run commands, see its config. */
export interface OpContext {
  readonly config: AgentConfig;
  readonly opId: string;
  readonly kind: OpKind;
  readonly client: ClientIdentity;
  readonly agentVersion: string;
  readonly nix: NixInfo;
  readonly signal: AbortSignal;
  /** Append one line to the op's journal (seen live by every subscriber). */
  log(stream: OutputStream, text: string): void;
  /** Run a command with its output streamed into the journal. Throws CommandError on failure. */
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

/** A failure the user can act on: the message says what happened and what to do next. */
export class OpError extends Error {
  override name = 'OpError';
  constructor(
    message: string,
    /** Partial result to record even though the op failed (e.g. generationAfter of a switch whose checks failed). */
    readonly result?: OpResult,
  ) {
    super(message);
  }
}

/**
 * What running an op does to its host. The agent's rules follow from it (actsOnHost), so
 * an op cannot be declared harmless by mistake: a build writes no profile, but it
 * evaluates the flake at any revision and fills the store.
 */
export type OpEffect =
  /** Evaluates the host's flake (any code in the checkout, at any revision it names). */
  | 'evaluates'
  /** Builds: runs builders and writes the Nix store. */
  | 'builds'
  /** Changes the host: profile, activation, checkout, recorded state, git remote. */
  | 'changes-host';

const EFFECT_TEXT: Record<OpEffect, string> = {
  evaluates: 'evaluates the flake',
  builds: 'builds into the Nix store',
  'changes-host': 'changes the host',
};

/**
 * An op that evaluates, builds or changes the host: it needs an authenticated controller,
 * takes the host lock (one such op per host at a time, builds included) and is audited
 * when it starts and when it ends.
 */
export function actsOnHost(def: Pick<OpDefinition, 'effects'>): boolean {
  return def.effects.length > 0;
}

/** "evaluates the flake and builds into the Nix store", for refusals. */
export function describeEffects(def: Pick<OpDefinition, 'effects'>): string {
  const parts = def.effects.map((e) => EFFECT_TEXT[e]);
  return parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : (parts[0] ?? 'only reads');
}

/** One flag of a CLI command. */
export interface FlagSpec {
  type: 'boolean' | 'string';
  help: string;
  /** Placeholder shown in help for string flags. */
  value?: string;
  /** Shown without brackets in the usage line; toParams refuses its absence. */
  required?: boolean;
}

/** How the agent's CLI offers an op: `nixfleet-agent <kind> [flags]`. */
export interface OpCli {
  summary: string;
  flags: Record<string, FlagSpec>;
  /** Map parsed flags to the op's params; throws Error with a clear sentence on bad input. */
  toParams(flags: Record<string, string | boolean | undefined>): Record<string, unknown>;
  /**
   * Before the op starts (not with --dry-run-like params): show what it will do and ask, or
   * demand --yes off a terminal (throws Error: a usage error). Returns the params to run with
   * (e.g. the confirmed list), or the exit code when nothing is to be started.
   */
  confirm?(config: AgentConfig, params: Record<string, unknown>, flags: Record<string, string | boolean | undefined>): Promise<Record<string, unknown> | number>;
  /**
   * Runs when the op did not succeed (not with --json): may start a follow-up op of the same
   * kind through `followUp` (e.g. rebuild-smart's interactive rollback prompt).
   */
  onFailure?(final: OpInfo, followUp: (params: Record<string, unknown>) => Promise<OpInfo>): Promise<OpInfo | undefined>;
}

/** A command with the options it runs with. */
export interface Command {
  argv: string[];
  opts: RunOptions;
}

export interface OpDefinition<K extends OpKind = OpKind> {
  kind: K;
  /** What it does to the host; see OpEffect and actsOnHost. */
  effects: readonly OpEffect[];
  /** Run outside the agent's process group (systemd-run or setsid) so an agent restart does not kill it. */
  detached: boolean;
  /**
   * Its activation may restart the agent (a new agent version): the worker's audit record
   * predates the restart, so the agent that sees the op end audits it again.
   */
  restartsAgent: boolean;
  params: (typeof opParams)[K];
  /** What its result carries (protocol/results.ts): the extension reads it with opResultOf. */
  result: (typeof opResults)[K];
  cli: OpCli;
  /** Checks that need the host's state (target generation exists, not too old); throws OpError. */
  validate?(ctx: OpContext, params: z.infer<(typeof opParams)[K]>): Promise<void>;
  /**
   * The command `run` starts with, when the request alone decides it and it changes
   * nothing on the host (a build): the worker starts it while it sets the op up (journal,
   * lock, validation), and ctx.run hands that process to `run` when it runs the same argv
   * (runner/headStart.ts). Undefined when it depends on what run finds first.
   */
  firstCommand?(config: AgentConfig, params: z.infer<(typeof opParams)[K]>): Command | undefined;
  /** The op itself. Returns what the journal's end record and the audit log store. */
  run(ctx: OpContext, params: z.infer<(typeof opParams)[K]>): Promise<OpResult>;
  /** Runs after a successful `run` (health checks); may turn success into failure by throwing OpError. */
  postCheck?(ctx: OpContext, result: OpResult): Promise<OpResult>;
  /**
   * Decides the final record once the agent that saw the op end has put its own version in
   * `result.agentVersionAfter` (self-update --verify: the version must have changed).
   */
  endCheck?(info: OpInfo, host: string): OpInfo;
}
