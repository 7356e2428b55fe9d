// How the last op that changed (or checked) a host ended, read from the agent's own op records
// (ops.list): the truth whoever ran it — this window, the CLI, another operator, a rollout's
// rollback. A failed or undone op stays the host's outcome until a later op succeeds with its
// health checks passing; the snapshot keeps it while the host is offline.
import { opResultOf, type OpInfo, type OpKind } from '../../protocol';

export type OutcomeState = 'failed' | 'interrupted' | 'cancelled' | 'undone';

export interface HostOutcome {
  state: OutcomeState;
  op: string;
  kind: OpKind;
  /** When the op ended (or started, for one that never recorded its end). */
  at: string;
  /** The op's error, or for an undone op what it went back to. */
  detail?: string;
  /** The generation the op made and had to undo, when there is one. */
  generationFailed?: number;
  /** The generation the host is at after it. */
  generationAfter?: number;
}

/** Ops that change what the host runs or what its checkout holds. `build` and dry runs change nothing. */
const CHANGES: ReadonlySet<OpKind> = new Set(['switch', 'force-rebuild', 'rollback', 'rebuild-smart', 'self-update', 'pull']);

function isDryRun(op: OpInfo): boolean {
  return op.params.dryRun === true;
}

/**
 * The outcome to show for a host, from its ops newest first (as ops.list returns them); undefined
 * when the newest op that counts ended well. A rollback that succeeded is itself an undone
 * deploy: it is only cleared by a later successful op, or by passing Run Tests.
 */
export function lastOutcome(opsNewestFirst: readonly OpInfo[]): HostOutcome | undefined {
  // A good pull says the checkout is fine, not the system: it clears only an older failed pull.
  let pulled = false;
  for (const op of opsNewestFirst) {
    if (op.state === 'running') continue;
    if (op.kind === 'pull' && (op.state === 'succeeded' || pulled)) {
      pulled = true;
      continue;
    }
    if (op.kind === 'test') {
      // Passing checks on what runs now say the host is healthy again; failing ones are the Tests row's.
      if (op.state === 'succeeded' && op.result?.checks !== 'failed') return undefined;
      continue;
    }
    if (!CHANGES.has(op.kind) || isDryRun(op)) continue;
    const base = { op: op.id, kind: op.kind, at: op.endedAt ?? op.startedAt, generationFailed: op.result?.generationFailed, generationAfter: op.result?.generationAfter };
    if (op.state !== 'succeeded') return { ...base, state: op.state, detail: op.error };
    const smart = op.kind === 'rebuild-smart' ? opResultOf('rebuild-smart', op.result) : undefined;
    if (op.kind === 'rollback' || smart?.rollback || smart?.rolledBack || op.result?.generationFailed !== undefined) {
      return { ...base, state: 'undone', detail: op.result?.message };
    }
    return undefined;
  }
  return undefined;
}
