// Magic rollback, the controller's half: after activating, the agent waits (its
// confirmTimeout) for `op.confirm` sent over a NEW connection, which proves the new
// generation still lets the controller in. The worker announces the wait with an info line
// mentioning "confirm"; that line is only the cue: the op record's confirmDeadline says
// whether it really waits. No vscode import: the CLI uses this as it is.
import type { OpInfo, OutputLine } from '../../protocol';
import { waitSettled, type AgentSession } from './session';

/** Whether a batch of output holds the worker's cue that it now waits for the confirmation. */
export function asksForConfirmation(lines: readonly OutputLine[]): boolean {
  return lines.some((l) => l.stream === 'info' && /confirm/i.test(l.text));
}

/**
 * Confirm `op` over `fresh` (a session opened just for this, closed here).
 * Resolves 'confirmed', or 'not-waiting' when the op does not wait (yet); throws with the
 * reason when the host cannot be reached again, which is exactly what magic rollback guards.
 */
export async function confirmActivation(fresh: AgentSession, op: string, connectWaitMs = 15_000): Promise<'confirmed' | 'not-waiting'> {
  try {
    const state = await waitSettled(fresh, connectWaitMs);
    if (state.state !== 'online') throw new Error(state.state === 'offline' ? state.reason : `no answer within ${Math.round(connectWaitMs / 1000)} s`);
    const info: OpInfo | undefined = (await fresh.listOps(100)).find((o) => o.id === op);
    if (!info?.confirmDeadline || info.state !== 'running') return 'not-waiting';
    await fresh.confirmOp(op);
    return 'confirmed';
  } finally {
    fresh.close();
  }
}
