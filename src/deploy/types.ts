// The deploy model: one record per deploy, one entry per host, updated live and persisted
// in the audit log. No vscode import: the extension renders these records as they change.
import type { BuildProgress, HostPlan, HostStatus, OpInfo, OpKind, OutputLine } from '../../protocol';
import type { PreflightProblem, RolloutState, RolloutWave } from './rolloutTypes';

/**
 * What happened to one host. `pending`/`queued`/`running` are live states; the others are final
 * for the deploy, and `reverted`/`rolled-back`/`rollback-failed` follow an undo.
 */
export type HostOutcome =
  | 'pending'
  | 'running'
  | 'queued' // offline: its switch waits in the broker's queue until the host is back (then running, then its outcome)
  | 'succeeded'
  | 'failed-switch' // bringing the checkout to the commit, building or activating failed
  | 'failed-checks' // switched, then its health checks failed
  | 'not-attempted' // stopped by an earlier failure, or the deploy was declined
  | 'reverted' // took the change, which was then reverted in the repository (still runs it)
  | 'rolled-back' // back on the generation it had before the deploy
  | 'rollback-failed'
  | 'no-change'; // the plan found the target builds the host's current system: skipped

/** The named steps of a host's deploy (and of its undo). */
export type DeployPhase = 'status' | 'build' | 'switch' | 'test' | 'rollback';

export interface DeployHost {
  host: string;
  canary: boolean;
  outcome: HostOutcome;
  phase?: DeployPhase;
  /** Generation current before the deploy touched the host: what Rollback Deployed Hosts returns to. */
  generationBefore?: number;
  /** Generation the host is on after its switch (back on generationBefore when the agent undid a failure). */
  generationAfter?: number;
  /** A generation the switch made but the agent undid (failed activation or checks). */
  generationFailed?: number;
  /** A switch op was started, so the host's profile may have changed. */
  switchStarted: boolean;
  /** The line that says what failed (last error line of the op's output, or the op's error). */
  failingLine?: string;
  /** The agent's one-sentence error (what happened, what to do). */
  error?: string;
  /** `nix store diff-closures` lines between the current and the new system (preview). */
  closureDiff?: string[];
  /** What switching would change (the plan step: the agent's build op). */
  plan?: HostPlan;
  /** The latest build progress while the host builds (from Nix's internal-json log). */
  progress?: BuildProgress;
  /** The rollout wave the host belongs to (index into record.rollout.waves). */
  wave?: number;
  /** The host was offline and its switch was queued in the broker (src/broker/queue.ts): when, and until when it may run. */
  queued?: { at: string; expiresAt: string };
  /** Op ids run on the host for this deploy, in order (for View Logs). */
  ops: { id: string; kind: OpKind; state?: OpInfo['state'] }[];
  rollback?: { to: number; outcome: 'running' | 'rolled-back' | 'rollback-failed' | 'unchanged'; error?: string; at: string };
  startedAt?: string;
  endedAt?: string;
}

export interface DeployTarget {
  commit: string;
  /** Set when deploying a PR's merge commit. */
  pr?: { number: number; title?: string; url?: string; repo?: string };
}

export interface DeployRevert {
  how: 'github-pr' | 'github-direct' | 'git';
  revertCommit: string;
  pullRequest?: { number: number; url: string };
  branch?: string;
  at: string;
}

/** `interrupted`: read back from the audit log of a deploy whose VS Code went away mid-run. */
export type DeployState = 'planned' | 'previewing' | 'running' | 'succeeded' | 'failed' | 'declined' | 'interrupted';

export interface DeployRecord {
  id: string;
  target: DeployTarget;
  /** GitHub login or local user name. */
  who: string;
  startedAt: string;
  endedAt?: string;
  state: DeployState;
  canaries: string[];
  parallelism: number;
  hosts: DeployHost[];
  /** The host whose failure stopped the deploy. */
  stoppedBy?: string;
  /** Set when the deploy stopped before any host was touched: nothing was deployed. */
  stoppedIn?: 'preflight';
  /** Why preflight refused (with stoppedIn). */
  preflight?: PreflightProblem[];
  /** A rollout in waves (src/deploy/rollout.ts): the waves, limits, policy and where it halted. */
  rollout?: RolloutState;
  revert?: DeployRevert;
}

export type DeployEvent =
  | { type: 'host'; deploy: string; host: DeployHost }
  | { type: 'deploy'; record: DeployRecord }
  /** A rollout wave changed state (started, soaking, gating, passed, failed, not attempted). */
  | { type: 'wave'; deploy: string; index: number; wave: RolloutWave };

/**
 * What the deploy needs from the fleet: the host's status and running an op to its end.
 * src/deploy/fleetAgents.ts provides it over the extension's Fleet; tests over real agents.
 */
export interface DeployAgents {
  status(host: string): Promise<HostStatus>;
  /** Where ops can wait for a host that is offline (the broker's queue); absent otherwise (ws, ssh). */
  queue?: OfflineQueue;
  /**
   * Start op `opId` and follow it to its end; resolves with the final OpInfo whatever its
   * state, rejects when it could not be started (offline, busy, refused).
   */
  runOp(
    host: string,
    kind: OpKind,
    params: Record<string, unknown>,
    opts: {
      opId: string;
      onOutput?: (lines: OutputLine[]) => void;
      /** After activating, the host waits for the controller's confirmation and goes back by itself without it. */
      magicRollback?: boolean;
    },
  ): Promise<OpInfo>;
}

/** Ops for hosts that are offline, kept durably until the host is back (src/broker/deployQueue.ts). */
export interface OfflineQueue {
  /** The host's last known status when it is offline and an op can wait for it; undefined otherwise. */
  offline(host: string): HostStatus | undefined;
  /**
   * Queue op `opId` for the host and follow it: `onQueued` once it is stored, `onRunning`
   * when the host is seen running it, `onOutput` with its lines; resolves with its final
   * OpInfo (an op that expired in the queue ends cancelled with `result.expired`, without
   * running), rejects when it could not be queued.
   */
  run(
    host: string,
    kind: OpKind,
    params: Record<string, unknown>,
    opts: { opId: string; onQueued: (q: { queuedAt: string; expiresAt: string }) => void; onRunning: () => void; onOutput?: (lines: OutputLine[]) => void },
  ): Promise<OpInfo>;
}
