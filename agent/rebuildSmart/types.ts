// Shared shapes of a Rebuild Smart run: the phases, what each one reports, and the
// state the phases hand to each other.
import type { AgentConfig } from '../config';
import type { OpContext } from '../ops/types';
import type { RollbackRecord } from './record';
import type { Steps } from './steps';

/** The phases of a run, in order; `rollback` is added when a failed run is rolled back (or for --rollback). */
export const PHASES = ['prepare', 'upstream', 'dotfiles', 'secrets', 'update', 'rebuild', 'checks', 'commit'] as const;
export type PhaseName = (typeof PHASES)[number] | 'rollback';

export const PHASE_TITLES: Record<PhaseName, string> = {
  prepare: 'Prepare',
  upstream: 'Upstream sync',
  dotfiles: 'Dotfiles',
  secrets: 'Secrets',
  update: 'Flake update',
  rebuild: 'Rebuild',
  checks: 'Post checks',
  commit: 'Commit & push',
  rollback: 'Rollback',
};

/**
 * done: it ran and did its job. warning: it failed in a way the run survives (upstream,
 * dotfiles): the run went on with local state. skipped: not run, `detail` says why.
 * failed: the run stopped here. cancelled: stopped by the user here. not-run: an earlier
 * phase stopped the run.
 */
export type PhaseStatus = 'done' | 'warning' | 'skipped' | 'failed' | 'cancelled' | 'not-run';

export interface PhaseResult {
  name: PhaseName;
  title: string;
  status: PhaseStatus;
  /** Wall-clock seconds the phase took (0 for skipped and not-run). */
  seconds: number;
  /** One line: what it did, why it was skipped, or the error. */
  detail?: string;
}

/** What a phase returns when it did not simply succeed silently. */
export interface PhaseOutcome {
  status?: 'done' | 'warning' | 'skipped';
  detail?: string;
}

/** Thrown by a phase that must stop the run (conflict, failed rebuild, failed checks). */
export class PhaseStop extends Error {
  override name = 'PhaseStop';
}

/** Runs a step that must not stop, or a phase, under the run's signal. */
export type Phase = (run: RunState) => Promise<PhaseOutcome | void>;

/** The checkout, as the prepare phase found it. */
export interface CheckoutInfo {
  path: string;
  /** jj-colocated repos (a `.jj` dir beside `.git`) are synced with jj. */
  vcs: 'git' | 'jj';
  commit: string;
  branch?: string;
  /** e.g. "origin". */
  remote?: string;
  remoteUrl?: string;
  /** The branch the checkout follows, e.g. "main" on "origin". */
  upstreamBranch?: string;
  /** Tracked files with uncommitted changes when the run started. */
  dirtyFiles: string[];
  untrackedFiles: string[];
}

export interface GenerationRef {
  generation: number;
  path: string;
}

export interface RunFlags {
  skipUpstream: boolean;
  skipDotfiles: boolean;
  /** Flake update requested (--update or updateBeforeRebuild) and not vetoed by --skip-update. */
  update: boolean;
  dryRun: boolean;
  rollbackOnFailure: boolean;
  autoCommit: boolean;
  autoPush: boolean;
  syncDotfiles: boolean;
}

/** Mutable state passed from phase to phase. */
export interface RunState {
  readonly ctx: OpContext;
  readonly config: AgentConfig;
  readonly flags: RunFlags;
  readonly steps: Steps;
  readonly nix: NixSide;
  readonly warnings: string[];
  checkout?: CheckoutInfo;
  /** Generation current when the run started (absent on a fresh profile). */
  before?: GenerationRef;
  after?: GenerationRef;
  offline: boolean;
  offlineReason?: string;
  /** Commits the run itself made (flake.lock updates, the final commit). */
  commitsMade: string[];
  /** Inputs whose locked revision changed: "name: old → new". */
  lockChanges: string[];
  checksPassed?: boolean;
  closureDiff?: string[];
  rolledBack?: boolean;
  /** The rollback record of the run before this one, as prepare found it. */
  previousRecord?: RollbackRecord;
}

/** The Nix side of a run, supplied by the agent's own switch/rollback/checks code. */
export interface NixSide {
  /** The profile's current generation, or undefined for a profile with none. */
  currentGeneration(profile: string): Promise<GenerationRef | undefined>;
  /**
   * Build the host's configuration from the checkout's working tree, set the profile,
   * activate; with `nh`, nh does all that. A failed activation has already been undone.
   */
  switchConfiguration(ctx: OpContext, useNh: boolean): Promise<GenerationRef>;
  /** Make `generation` current again and activate it; throws when either step fails. */
  switchToGeneration(ctx: OpContext, generation: number): Promise<void>;
  /** The host's configured health checks, recorded for the current generation. */
  healthChecks(ctx: OpContext): Promise<{ passed: boolean; detail?: string }>;
  /** The argv lines a switch would run, for --dry-run. */
  describeSwitch(config: AgentConfig, useNh: boolean): string[][];
}
