// Magic rollback, the controller's half: after activating, the agent waits (its
// confirmTimeout) for `op.confirm` sent over a NEW connection, which proves the new
// generation still lets the controller in. The agent announces the wait with op.state (the
// record's confirmDeadline); the record, read again over the new connection, says whether it
// still waits. No vscode import: the CLI uses this as it is.
import type { OpInfo } from '../../protocol';
import { waitSettled, type AgentSession } from './session';

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
