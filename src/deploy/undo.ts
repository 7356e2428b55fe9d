// Undoing a deploy: "Rollback Deployed Hosts" puts every host that switched back on the
// generation it had BEFORE the deploy (not merely "the previous one": a host may have
// switched more than once since), in parallel, each tracked; "reverted" records that the
// change itself was reverted in the repository.
import type { AuditLog } from './audit';
import { deployOpId, eachLimited } from './plan';
import { failingLineOf, hostEmitter } from './run';
import type { DeployAgents, DeployEvent, DeployHost, DeployRecord, DeployRevert } from './types';

export interface RollbackOptions {
  agents: DeployAgents;
  record: DeployRecord;
  /** Only these hosts (default: every host that switched). */
  hosts?: readonly string[];
  parallelism?: number;
  who: string;
  onEvent?: (e: DeployEvent) => void;
  audit?: AuditLog;
  magicRollback?: boolean;
}

/** The hosts a rollback would touch: those whose profile the deploy may have changed. */
export function rollbackCandidates(record: DeployRecord, only?: readonly string[]): DeployHost[] {
  return record.hosts.filter(
    (h) => h.switchStarted && h.outcome !== 'rolled-back' && (only === undefined || only.includes(h.host)),
  );
}

/** One line per host for the confirmation: what will happen to it. */
export function describeRollback(record: DeployRecord, only?: readonly string[]): string[] {
  return rollbackCandidates(record, only).map((h) =>
    h.generationBefore === undefined
      ? `${h.host}: had no generation before the deploy; it cannot be rolled back`
      : h.outcome === 'failed-switch'
        ? `${h.host}: back to generation ${h.generationBefore} if it is not there already (its switch failed; the agent restores the old generation on failed activation)`
        : `${h.host}: back to generation ${h.generationBefore}${h.generationAfter !== undefined ? ` (from ${h.generationAfter})` : ''}`,
  );
}

export async function rollbackDeployedHosts(o: RollbackOptions): Promise<DeployRecord> {
  const { record, agents } = o;
  const targets = rollbackCandidates(record, o.hosts);
  if (targets.length === 0) {
    throw new Error(`deploy ${record.id}: no host switched to ${record.target.commit.slice(0, 12)}, so there is nothing to roll back`);
  }
  const update = hostEmitter(record, o.onEvent);
  o.audit?.append('rollback.start', o.who, record, `rolling back ${targets.map((h) => h.host).join(', ')}`);
  const at = () => new Date().toISOString();
  await eachLimited(targets, o.parallelism ?? Math.max(record.parallelism, 1), () => false, async (h) => {
    const to = h.generationBefore;
    if (to === undefined) {
      update(h, { outcome: 'rollback-failed', rollback: { to: 0, outcome: 'rollback-failed', error: `host ${h.host} had no generation before the deploy`, at: at() } });
      return;
    }
    update(h, { phase: 'rollback', rollback: { to, outcome: 'running', at: at() } });
    let current: number | undefined;
    try {
      current = (await agents.status(h.host)).currentGeneration;
    } catch (err) {
      const error = `host ${h.host}: could not read its status (${(err as Error).message}); it was not rolled back: retry when it is reachable`;
      update(h, { outcome: 'rollback-failed', error, failingLine: error, rollback: { to, outcome: 'rollback-failed', error, at: at() } });
      return;
    }
    if (current === to) {
      // A failed activation already restored it (or someone else did): nothing to do.
      update(h, { outcome: 'rolled-back', rollback: { to, outcome: 'unchanged', at: at() } });
      return;
    }
    const attempt = h.ops.filter((x) => x.kind === 'rollback').length + 1;
    const opId = deployOpId(record.id, 'rollback', h.host, attempt);
    update(h, { ops: [...h.ops, { id: opId, kind: 'rollback' }] });
    let lastErrorLine: string | undefined;
    try {
      // confirmOld: the user asked for exactly this generation, the one the host ran before.
      const op = await agents.runOp(h.host, 'rollback', { to, confirmOld: true }, {
        opId,
        ...(o.magicRollback ? { magicRollback: true } : {}),
        onOutput: (lines) => {
          for (const l of lines) if (l.stream === 'stderr' && l.text.trim()) lastErrorLine = l.text.trim();
        },
      });
      const ops = h.ops.map((x) => (x.id === opId ? { ...x, state: op.state } : x));
      const back = op.result?.generationAfter === to;
      if (op.state === 'succeeded' || back) {
        // Back on the old generation even if its health checks now fail: say so.
        update(h, { ops, outcome: 'rolled-back', ...(op.error ? { error: op.error } : {}), rollback: { to, outcome: 'rolled-back', ...(op.error ? { error: op.error } : {}), at: at() } });
      } else {
        const error = op.error ?? `host ${h.host}: rollback ended ${op.state}; see its log`;
        update(h, { ops, outcome: 'rollback-failed', error, failingLine: failingLineOf(op, lastErrorLine, error), rollback: { to, outcome: 'rollback-failed', error, at: at() } });
      }
    } catch (err) {
      const error = `rollback of ${h.host} to generation ${to} not started: ${(err as Error).message}`;
      update(h, { outcome: 'rollback-failed', error, failingLine: error, rollback: { to, outcome: 'rollback-failed', error, at: at() } });
    }
  });
  for (const h of targets) if (h.phase === 'rollback') update(h, { phase: undefined });
  o.audit?.append('rollback.end', o.who, record);
  o.onEvent?.({ type: 'deploy', record });
  return record;
}

/** Record that the deployed change was reverted in the repository. */
export function markReverted(record: DeployRecord, revert: DeployRevert, who: string, audit?: AuditLog, onEvent?: (e: DeployEvent) => void): DeployRecord {
  const update = hostEmitter(record, onEvent);
  record.revert = revert;
  for (const h of record.hosts) {
    if (h.outcome === 'succeeded' || h.outcome === 'failed-checks') update(h, { outcome: 'reverted' });
  }
  audit?.append('revert', who, record, `${revert.how}: ${revert.revertCommit}${revert.pullRequest ? ` (PR #${revert.pullRequest.number})` : ''}`);
  onEvent?.({ type: 'deploy', record });
  return record;
}
