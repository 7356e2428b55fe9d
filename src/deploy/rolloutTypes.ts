// The persisted shape of a rollout: part of its DeployRecord, so the audit log that keeps
// every deploy keeps the rollout too, and a halted or interrupted one can be resumed.

/** What happens to hosts that already switched when a wave fails. */
export type FailurePolicy = 'keep' | 'rollback-wave' | 'rollback-all';
export const FAILURE_POLICIES: readonly (FailurePolicy | 'ask')[] = ['keep', 'rollback-wave', 'rollback-all', 'ask'];

export type WaveState = 'pending' | 'running' | 'soaking' | 'gating' | 'passed' | 'failed' | 'not-attempted';

export interface RolloutWave {
  /** "canaries", "wave 2", "tag:web", "25%": what the user asked for. */
  name: string;
  hosts: string[];
  state: WaveState;
  startedAt?: string;
  endedAt?: string;
  /** Hosts of the wave that failed their switch or the health gate. */
  failed?: string[];
  detail?: string;
  /** While soaking: when the soak ends and the health gate runs (the summary counts down to it). */
  soakUntil?: string;
}

export interface RolloutState {
  waves: RolloutWave[];
  /** Milliseconds between a wave's last switch and its health gate. */
  soakMs: number;
  /** Hosts switching at once within a wave. */
  maxInFlight: number;
  /** Failed hosts a wave may have and still pass (0: any failure halts). */
  failuresTolerated: number;
  onFailure: FailurePolicy | 'ask';
  /** The wave whose failure halted the rollout, and what the policy then did. */
  haltedAt?: number;
  policyApplied?: FailurePolicy;
}

/** Why preflight refused a deploy before any host was touched. */
export interface PreflightProblem {
  kind: 'unpushed' | 'unknown-commit' | 'busy' | 'offline' | 'no-plan' | 'plan-failed';
  /** The host concerned (absent for the commit checks). */
  host?: string;
  /** One sentence: what is wrong and what to do ("only local: push first"). */
  message: string;
}
