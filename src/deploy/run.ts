// Running a deploy: read every host's current generation, optionally preview the closure
// diffs and ask, then canaries one at a time, then the rest in parallel (bounded). The
// first failure stops every host that has not started yet; hosts already running finish.
// A host that is offline where ops can wait for it (the broker's queue) is not a failure:
// once every online host succeeded, its switch is queued (`queued`), and the deploy ends
// when it ran there (`running`, then its outcome) or expired in the queue (`not-attempted`).
import { FINAL_OP_STATES, opResultOf, type OpInfo, type OpKind, type OutputLine } from '../../protocol';
import type { AuditLog } from './audit';
import { deployOpId, eachLimited } from './plan';
import type { DeployAgents, DeployEvent, DeployHost, DeployPhase, DeployRecord } from './types';

export interface RunDeployOptions {
  agents: DeployAgents;
  record: DeployRecord;
  /**
   * Preview: when given, every host builds the target first (op `build`, nothing activated)
   * and this is called with the hosts and their closure diffs; false declines the deploy.
   */
  confirm?: (hosts: readonly DeployHost[]) => Promise<boolean>;
  onEvent?: (e: DeployEvent) => void;
  audit?: AuditLog;
  /** Aborting stops hosts that have not started (like a failure); running ones finish. */
  signal?: AbortSignal;
  /** Magic rollback for each switch: a host the new generation cuts off goes back by itself. */
  magicRollback?: boolean;
}

const now = () => new Date().toISOString();

/** Shared by deploy and rollback: emit a host's new state. */
export function hostEmitter(record: DeployRecord, onEvent?: (e: DeployEvent) => void) {
  return (h: DeployHost, patch: Partial<DeployHost>) => {
    Object.assign(h, patch);
    onEvent?.({ type: 'host', deploy: record.id, host: { ...h, ops: [...h.ops] } });
  };
}

/**
 * The line that says what failed: the one the agent recorded with the result (the failed
 * command's last stderr line; later output such as a restore cannot hide it), else the op's
 * last stderr line, else its error.
 */
export function failingLineOf(op: OpInfo | undefined, lastErrorLine: string | undefined, fallback: string): string {
  return (op?.result?.failingLine ?? lastErrorLine ?? op?.error ?? fallback).slice(0, 500);
}

export interface StepResult {
  op?: OpInfo;
  lastErrorLine?: string;
  /** op.start was refused (offline, busy, unauthorized). */
  startError?: string;
}

/**
 * Which attempt of `kind` on this host the next op is: a new one after a finished op (retry),
 * the same one when the last op's end was never seen (resumed after the controller went
 * away), so its deterministic id finds the op the agent already ran.
 */
export function nextAttempt(h: DeployHost, kind: OpKind): number {
  const prev = h.ops.filter((o) => o.kind === kind);
  const last = prev.at(-1);
  return last && last.state === undefined ? prev.length : prev.length + 1;
}

export async function step(agents: DeployAgents, record: DeployRecord, h: DeployHost, kind: OpKind, params: Record<string, unknown>, update: ReturnType<typeof hostEmitter>, magicRollback?: boolean, queued?: boolean): Promise<StepResult> {
  const opId = deployOpId(record.id, kind, h.host, nextAttempt(h, kind));
  update(h, { phase: kind as DeployPhase, ops: h.ops.some((o) => o.id === opId) ? h.ops : [...h.ops, { id: opId, kind }] });
  let lastErrorLine: string | undefined;
  const onOutput = (lines: OutputLine[]) => {
    let progress;
    for (const l of lines) {
      if (l.stream === 'stderr' && l.text.trim()) lastErrorLine = l.text.trim();
      if (l.progress) progress = l.progress;
    }
    if (progress) update(h, { progress });
  };
  try {
    const op = queued && agents.queue
      ? await agents.queue.run(h.host, kind, params, {
          opId,
          onOutput,
          onQueued: (q) => update(h, { outcome: 'queued', queued: { at: q.queuedAt, expiresAt: q.expiresAt } }),
          onRunning: () => h.outcome === 'queued' && update(h, { outcome: 'running' }),
        })
      : await agents.runOp(h.host, kind, params, { opId, ...(magicRollback ? { magicRollback } : {}), onOutput });
    update(h, { ops: h.ops.map((o) => (o.id === opId ? { ...o, state: op.state } : o)) });
    return { op, lastErrorLine };
  } catch (err) {
    update(h, { ops: h.ops.map((o) => (o.id === opId ? { ...o, state: 'failed' } : o)) });
    return { startError: (err as Error).message };
  }
}

export const ok = (r: StepResult) => r.op?.state === 'succeeded';

export function describeFailure(h: DeployHost, kind: OpKind, r: StepResult): string {
  if (r.startError) return r.startError;
  const op = r.op!;
  if (op.error) return op.error;
  return `host ${h.host}: ${kind} ended ${op.state}${FINAL_OP_STATES.includes(op.state) ? '' : ' (unexpected)'}; see the host's log`;
}

/**
 * Every host's generation before the deploy. Hosts that are offline where ops can wait for
 * them go into `offline` with their last known generation; a canary cannot wait (it is there
 * to prove the change first), nor can a host that must build a preview.
 */
async function readGenerations(agents: DeployAgents, record: DeployRecord, update: ReturnType<typeof hostEmitter>, offline: Set<string>, preview: boolean): Promise<boolean> {
  let allOk = true;
  await eachLimited(record.hosts, Math.max(record.parallelism, 8), () => false, async (h) => {
    update(h, { phase: 'status' });
    const last = agents.queue?.offline(h.host);
    if (last) {
      if (h.canary || preview) {
        allOk = false;
        const msg = `host ${h.host} is offline${h.canary ? ' and is a canary, which must run the change first' : ' and cannot build the closure diff preview'}; bring it back, or deploy without it${h.canary ? ' as a canary' : ''} (offline hosts get the switch queued)`;
        update(h, { outcome: 'failed-switch', error: msg, failingLine: msg, endedAt: now() });
        return;
      }
      offline.add(h.host);
      update(h, { generationBefore: last.currentGeneration, phase: undefined });
      return;
    }
    try {
      const status = await agents.status(h.host);
      if (status.busy) {
        allOk = false;
        const msg = `host ${h.host} is busy: ${status.busy.kind} running since ${status.busy.since}; wait for it or cancel it, then deploy again`;
        update(h, { outcome: 'failed-switch', error: msg, failingLine: msg, endedAt: now() });
        return;
      }
      update(h, { generationBefore: status.currentGeneration });
    } catch (err) {
      allOk = false;
      const msg = `host ${h.host}: could not read its status before deploying (${(err as Error).message}); nothing was changed on it`;
      update(h, { outcome: 'failed-switch', error: msg, failingLine: msg, endedAt: now() });
    }
  });
  return allOk;
}

async function preview(o: RunDeployOptions, update: ReturnType<typeof hostEmitter>): Promise<boolean> {
  const { agents, record } = o;
  let failed = false;
  await eachLimited(record.hosts, record.parallelism, () => failed, async (h) => {
    const r = await step(agents, record, h, 'build', { rev: record.target.commit }, update);
    if (!ok(r)) {
      failed = true;
      const error = describeFailure(h, 'build', r);
      update(h, { outcome: 'failed-switch', error, failingLine: failingLineOf(r.op, r.lastErrorLine, error), endedAt: now() });
      record.stoppedBy ??= h.host;
      return;
    }
    const built = opResultOf('build', r.op!.result);
    update(h, { closureDiff: built?.closureDiff ?? [], ...(built?.plan ? { plan: built.plan } : {}) });
  });
  return !failed;
}

/** Pull to the commit, build, set the profile, activate, health checks: the agent's switch op. */
export async function deployHost(o: RunDeployOptions, h: DeployHost, update: ReturnType<typeof hostEmitter>, queued = false): Promise<boolean> {
  const { agents, record } = o;
  const rev = record.target.commit;
  update(h, { outcome: queued ? 'queued' : 'running', startedAt: now() });
  // One op does both steps: `switch {rev}` brings the checkout to rev (fetch, fast-forward
  // or detached checkout) before building, and puts it back when the switch fails. A
  // separate `pull` op would fetch twice, take the host lock twice, and leave the checkout
  // moved after a failed switch.
  update(h, { switchStarted: true });
  // Magic rollback needs this controller there to confirm: not for an op that runs whenever the host is back.
  const sw = await step(agents, record, h, 'switch', { rev }, update, queued ? false : o.magicRollback, queued);
  const result = sw.op?.result;
  if (sw.op && (result as { expired?: unknown } | undefined)?.expired === true) {
    update(h, { outcome: 'not-attempted', switchStarted: false, error: sw.op.error, failingLine: (sw.op.error ?? '').slice(0, 500), endedAt: now() });
    return false;
  }
  const generationAfter = result?.generationAfter;
  if (ok(sw)) {
    update(h, { outcome: 'succeeded', generationAfter, endedAt: now() });
    return true;
  }
  const error = describeFailure(h, 'switch', sw);
  const checksFailed = result?.checks === 'failed';
  update(h, {
    outcome: checksFailed ? 'failed-checks' : 'failed-switch',
    generationAfter,
    ...(result?.generationFailed !== undefined ? { generationFailed: result.generationFailed } : {}),
    error,
    // For failed checks the agent's error names the failing check and its output tail.
    failingLine: checksFailed ? (sw.op?.error ?? error).slice(0, 500) : failingLineOf(sw.op, sw.lastErrorLine, error),
    endedAt: now(),
  });
  return false;
}

function finish(o: RunDeployOptions, state: DeployRecord['state'], update: ReturnType<typeof hostEmitter>, detail?: string): DeployRecord {
  const { record } = o;
  for (const h of record.hosts) if (h.outcome === 'pending') update(h, { outcome: 'not-attempted', phase: undefined });
  record.state = state;
  record.endedAt = now();
  o.audit?.append('deploy.end', record.who, record, detail);
  o.onEvent?.({ type: 'deploy', record });
  return record;
}

export async function runDeploy(o: RunDeployOptions): Promise<DeployRecord> {
  const { record } = o;
  if (record.state !== 'planned') throw new Error(`deploy ${record.id} already ran (${record.state}); plan a new one`);
  const update = hostEmitter(record, o.onEvent);
  const setState = (s: DeployRecord['state']) => {
    record.state = s;
    o.onEvent?.({ type: 'deploy', record });
  };
  setState('running');

  const offline = new Set<string>();
  if (!(await readGenerations(o.agents, record, update, offline, !!o.confirm))) {
    record.stoppedBy = record.hosts.find((h) => h.outcome === 'failed-switch')?.host;
    return finish(o, 'failed', update, 'stopped before any host changed: a host could not be read');
  }
  if (o.confirm) {
    setState('previewing');
    if (!(await preview(o, update))) return finish(o, 'failed', update, 'stopped before any host changed: the preview build failed');
    for (const h of record.hosts) update(h, { phase: undefined });
    if (o.signal?.aborted || !(await o.confirm(record.hosts))) return finish(o, 'declined', update, 'declined after the closure diff preview');
    setState('running');
  }
  o.audit?.append('deploy.start', record.who, record);

  let stopped = false;
  const stop = () => stopped || !!o.signal?.aborted;
  const run = async (h: DeployHost) => {
    if (stop()) return;
    if (!(await deployHost(o, h, update))) {
      stopped = true;
      record.stoppedBy ??= h.host;
    }
  };
  for (const h of record.hosts.filter((x) => x.canary)) {
    if (stop()) break;
    await run(h);
  }
  await eachLimited(record.hosts.filter((x) => !x.canary && !offline.has(x.host)), record.parallelism, stop, run);
  // Offline hosts get the change once every online host took it; they wait in the broker's
  // queue (no parallelism slot is held while they do) and report when they ran it.
  if (!stop()) {
    await Promise.all(
      record.hosts
        .filter((x) => offline.has(x.host))
        .map(async (h) => {
          if (!(await deployHost(o, h, update, true))) record.stoppedBy ??= h.host;
        }),
    );
  }

  const allOk = record.hosts.every((h) => h.outcome === 'succeeded');
  if (allOk) return finish(o, 'succeeded', update);
  return finish(o, 'failed', update, o.signal?.aborted && !record.stoppedBy ? 'cancelled by the user' : `stopped by ${record.stoppedBy}`);
}
