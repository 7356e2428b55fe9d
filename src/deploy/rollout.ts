// A rollout: the deploy in waves. Preflight first (commit on the remote, no host busy or
// offline, a plan for every host), then each wave: its hosts switch (at most maxInFlight at
// once), a soak time, then the health gate (each host still on its new generation and its
// health checks passing again). A wave with more failures than tolerated halts the rollout;
// later waves are not attempted, and the failure policy says what happens to hosts that
// already switched. The record (audit log) holds the whole state: a halted or interrupted
// rollout can be resumed, and its failed hosts retried alone.
import type { AuditLog } from './audit';
import { buildFleetPlan, type FleetPlan } from './fleetPlan';
import { eachLimited, MAX_PARALLELISM, planDeploy, type PlanOptions, DeployPlanError } from './plan';
import { planProblems, preflight } from './preflight';
import { deployHost, describeFailure, hostEmitter, ok, step } from './run';
import { FAILURE_POLICIES, type FailurePolicy, type PreflightProblem, type RolloutWave } from './rolloutTypes';
import { resolveWaves } from './rolloutWaves';
import type { DeployAgents, DeployEvent, DeployHost, DeployRecord } from './types';
import { rollbackCandidates, rollbackDeployedHosts } from './undo';

export const MAX_SOAK_MS = 24 * 3_600_000;

export interface RolloutPlanOptions extends Omit<PlanOptions, 'parallelism'> {
  /** One entry per wave after the canaries: "h1,h2", "tag:web", "25%" (see rolloutWaves.ts). */
  waves: readonly string[];
  tags?: Readonly<Record<string, readonly string[]>>;
  soakMs?: number;
  maxInFlight?: number;
  failuresTolerated?: number;
  onFailure?: FailurePolicy | 'ask';
}

/** Validate and lay out a rollout: a DeployRecord whose hosts are in wave order. Nothing runs. */
export function planRollout(o: RolloutPlanOptions): DeployRecord {
  const maxInFlight = o.maxInFlight ?? 4;
  const record = planDeploy({ ...o, parallelism: maxInFlight });
  const soakMs = o.soakMs ?? 0;
  if (!Number.isInteger(soakMs) || soakMs < 0 || soakMs > MAX_SOAK_MS) throw new DeployPlanError(`the soak time must be from 0 to 24 hours, not ${soakMs} ms`);
  const failuresTolerated = o.failuresTolerated ?? 0;
  if (!Number.isInteger(failuresTolerated) || failuresTolerated < 0 || failuresTolerated > 10_000) throw new DeployPlanError(`failures tolerated per wave must be a whole number from 0, not ${failuresTolerated}`);
  const onFailure = o.onFailure ?? 'ask';
  if (!FAILURE_POLICIES.includes(onFailure)) throw new DeployPlanError(`"${String(onFailure)}" is not a failure policy: use keep, rollback-wave, rollback-all or ask`);
  let waves;
  try {
    waves = resolveWaves({ hosts: o.hosts, canaries: o.canaries, specs: o.waves, tags: o.tags });
  } catch (err) {
    throw new DeployPlanError((err as Error).message);
  }
  const byHost = new Map(record.hosts.map((h) => [h.host, h]));
  record.hosts = waves.flatMap((w, i) => w.hosts.map((name) => Object.assign(byHost.get(name)!, { wave: i })));
  record.rollout = {
    waves: waves.map((w) => ({ name: w.name, hosts: w.hosts, state: 'pending' })),
    soakMs,
    maxInFlight: Math.min(maxInFlight, MAX_PARALLELISM),
    failuresTolerated,
    onFailure,
  };
  return record;
}

export interface RolloutOptions {
  agents: DeployAgents;
  record: DeployRecord;
  /** The plan built before (Plan Deploy); without it the rollout builds it first. */
  plan?: FleetPlan;
  /** The workspace clone, to check the commit is on `remote` (default origin) before anything starts. */
  repoDir?: string;
  remote?: string;
  /** The "ask" policy's answer; the UI or CLI asks the user. Required when onFailure is ask. */
  ask?: (q: { record: DeployRecord; wave: number; failed: string[] }) => Promise<FailurePolicy>;
  onEvent?: (e: DeployEvent) => void;
  audit?: AuditLog;
  /** Aborting starts no more hosts or waves; running switches finish. */
  signal?: AbortSignal;
  magicRollback?: boolean;
}

const now = () => new Date().toISOString();
const FAILED: readonly DeployHost['outcome'][] = ['failed-switch', 'failed-checks'];
const OK: readonly DeployHost['outcome'][] = ['succeeded', 'no-change'];

class Rollout {
  readonly record: DeployRecord;
  readonly update: ReturnType<typeof hostEmitter>;
  constructor(readonly o: RolloutOptions) {
    this.record = o.record;
    this.update = hostEmitter(o.record, o.onEvent);
    if (!o.record.rollout) throw new Error(`deploy ${o.record.id} is not a rollout: plan it with planRollout`);
    if (o.record.rollout.onFailure === 'ask' && !o.ask) throw new Error('the rollout\'s failure policy is "ask" but nothing can answer: pass ask, or choose keep, rollback-wave or rollback-all');
  }

  get rollout() {
    return this.record.rollout!;
  }
  host(name: string): DeployHost {
    return this.record.hosts.find((h) => h.host === name)!;
  }
  aborted(): boolean {
    return !!this.o.signal?.aborted;
  }

  setState(s: DeployRecord['state']): void {
    this.record.state = s;
    this.o.onEvent?.({ type: 'deploy', record: this.record });
  }

  wave(i: number, patch: Partial<RolloutWave>): void {
    const w = Object.assign(this.rollout.waves[i]!, patch);
    this.o.onEvent?.({ type: 'wave', deploy: this.record.id, index: i, wave: { ...w, hosts: [...w.hosts], ...(w.failed ? { failed: [...w.failed] } : {}) } });
  }

  finish(state: DeployRecord['state'], detail?: string): DeployRecord {
    for (const h of this.record.hosts) if (h.outcome === 'pending') this.update(h, { outcome: 'not-attempted', phase: undefined });
    this.record.state = state;
    this.record.endedAt = now();
    this.o.audit?.append('deploy.end', this.record.who, this.record, detail);
    this.o.onEvent?.({ type: 'deploy', record: this.record });
    return this.record;
  }

  /** Nothing was touched: say why, and that nothing was deployed. */
  stopInPreflight(problems: PreflightProblem[]): DeployRecord {
    this.record.stoppedIn = 'preflight';
    this.record.preflight = problems;
    for (const w of this.rollout.waves.keys()) this.wave(w, { state: 'not-attempted' });
    return this.finish('failed', `stopped in preflight, nothing was deployed: ${problems.map((p) => p.message).join(' | ')}`);
  }

  /** Preflight for `hosts`; sets generationBefore on hosts that have none yet. */
  async preflight(hosts: readonly DeployHost[]): Promise<PreflightProblem[]> {
    for (const h of hosts) this.update(h, { phase: 'status' });
    const pf = await preflight({ agents: this.o.agents, commit: this.record.target.commit, hosts: hosts.map((h) => h.host), repoDir: this.o.repoDir, remote: this.o.remote });
    for (const h of hosts) {
      const s = pf.statuses[h.host];
      this.update(h, { phase: undefined, ...(h.generationBefore === undefined && s?.currentGeneration !== undefined ? { generationBefore: s.currentGeneration } : {}) });
    }
    return pf.problems;
  }

  /** The plan step: every host builds the commit without activating. */
  async plan(hosts: readonly DeployHost[]): Promise<FleetPlan> {
    this.setState('previewing');
    for (const h of hosts) this.update(h, { phase: 'build' });
    const plan = await buildFleetPlan({
      agents: this.o.agents,
      id: this.record.id,
      commit: this.record.target.commit,
      hosts: hosts.map((h) => h.host),
      parallelism: MAX_PARALLELISM,
      signal: this.o.signal,
      onProgress: (host, progress) => this.update(this.host(host), { progress }),
      onHost: (p) => this.update(this.host(p.host), { phase: undefined, ops: [...this.host(p.host).ops, { id: p.opId, kind: 'build', state: p.state === 'planned' ? 'succeeded' : 'failed' }] }),
    });
    this.setState('running');
    return plan;
  }

  applyPlan(plan: FleetPlan): void {
    for (const p of plan.hosts) {
      const h = this.record.hosts.find((x) => x.host === p.host);
      if (!h || !p.plan) continue;
      this.update(h, { plan: p.plan, ...(h.generationBefore === undefined && p.generationBefore !== undefined ? { generationBefore: p.generationBefore } : {}) });
      if (p.plan.noChange && h.outcome === 'pending') this.update(h, { outcome: 'no-change', endedAt: now() });
    }
  }

  failedIn(i: number): string[] {
    return this.rollout.waves[i]!.hosts.filter((n) => FAILED.includes(this.host(n).outcome));
  }

  /**
   * The health gate for `hosts` (after the soak): each is still on the generation it switched
   * to, and its health checks (the agent's `test` op) pass now. A host that fails is failed-checks.
   */
  async gate(hosts: readonly DeployHost[]): Promise<void> {
    await eachLimited(hosts, this.rollout.maxInFlight, () => false, async (h) => {
      let error: string | undefined;
      try {
        const s = await this.o.agents.status(h.host);
        if (h.generationAfter !== undefined && s.currentGeneration !== h.generationAfter) {
          error = `host ${h.host} is no longer on generation ${h.generationAfter} (now ${s.currentGeneration ?? 'none'}): something rolled it back during the soak`;
        }
      } catch (err) {
        error = `host ${h.host} did not answer at the health gate (${(err as Error).message})`;
      }
      if (!error) {
        const r = await step(this.o.agents, this.record, h, 'test', {}, this.update);
        if (!ok(r)) error = describeFailure(h, 'test', r);
      }
      this.update(h, { phase: undefined, ...(error ? { outcome: 'failed-checks', error, failingLine: error.slice(0, 500) } : {}) });
    });
  }

  async soak(): Promise<void> {
    const ms = this.rollout.soakMs;
    if (ms <= 0 || this.aborted()) return;
    const signal = this.o.signal;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Switch the wave's pending hosts, soak, gate. True when the wave passed. */
  async runWave(i: number, only?: ReadonlySet<string>): Promise<boolean> {
    const r = this.rollout;
    const hosts = r.waves[i]!.hosts.map((n) => this.host(n)).filter((h) => h.outcome === 'pending' && (!only || only.has(h.host)));
    this.wave(i, { state: 'running', startedAt: now() });
    const tooMany = () => this.failedIn(i).length > r.failuresTolerated;
    await eachLimited(hosts, r.maxInFlight, () => tooMany() || this.aborted(), async (h) => {
      if (!(await deployHost(this.o, h, this.update))) this.record.stoppedBy ??= h.host;
    });
    // The gate covers every switched host of the wave, also those that switched before a
    // cancel or a controller restart and were never gated; a retry gates only what it reran.
    const switched = (only ? hosts : r.waves[i]!.hosts.map((n) => this.host(n))).filter((h) => h.outcome === 'succeeded');
    if (!tooMany() && !this.aborted() && switched.length) {
      this.wave(i, { state: 'soaking', soakUntil: new Date(Date.now() + r.soakMs).toISOString() });
      await this.soak();
      if (!this.aborted()) {
        this.wave(i, { state: 'gating', soakUntil: undefined });
        await this.gate(switched);
        for (const h of switched) if (FAILED.includes(h.outcome)) this.record.stoppedBy ??= h.host;
      }
    }
    const failed = this.failedIn(i);
    // Hosts neither on the new generation nor failed: not attempted, or rolled back by a policy.
    const missing = r.waves[i]!.hosts.filter((n) => !OK.includes(this.host(n).outcome) && !failed.includes(n));
    const passed = failed.length <= r.failuresTolerated && missing.length === 0 && !this.aborted();
    this.wave(i, {
      state: passed ? 'passed' : 'failed',
      soakUntil: undefined,
      endedAt: now(),
      failed,
      detail: passed
        ? undefined
        : this.aborted()
          ? 'cancelled'
          : failed.length > r.failuresTolerated
            ? `${failed.length} host(s) failed (${r.failuresTolerated} tolerated): ${failed.join(', ')}`
            : `${missing.join(', ')} not on the new generation (not attempted or rolled back): resume the rollout`,
    });
    this.o.audit?.append('wave.end', this.record.who, this.record, `wave ${i + 1} (${r.waves[i]!.name}) ${passed ? 'passed' : 'failed'}`);
    return passed;
  }

  /** The rollout halted at wave i: later waves are not attempted; apply the failure policy. */
  async halt(i: number): Promise<DeployRecord> {
    const r = this.rollout;
    r.haltedAt = i;
    for (let j = i + 1; j < r.waves.length; j++) this.wave(j, { state: 'not-attempted' });
    for (const h of this.record.hosts) if (h.outcome === 'pending') this.update(h, { outcome: 'not-attempted', phase: undefined });
    if (this.aborted()) return this.finish('failed', 'cancelled by the user');
    const failed = this.failedIn(i);
    const policy = r.onFailure === 'ask' ? await this.o.ask!({ record: this.record, wave: i, failed }) : r.onFailure;
    r.policyApplied = policy;
    const scope = policy === 'rollback-wave' ? r.waves[i]!.hosts : policy === 'rollback-all' ? this.record.hosts.map((h) => h.host) : [];
    const targets = rollbackCandidates(this.record, scope).map((h) => h.host);
    if (targets.length) {
      await rollbackDeployedHosts({ agents: this.o.agents, record: this.record, hosts: targets, parallelism: r.maxInFlight, who: this.record.who, onEvent: this.o.onEvent, audit: this.o.audit, magicRollback: this.o.magicRollback });
    }
    return this.finish('failed', `halted at wave ${i + 1} (${r.waves[i]!.name}); policy ${policy}${targets.length ? `: rolled back ${targets.join(', ')}` : ''}`);
  }

  /** Waves from `start` on, in order; halts at the first that fails. */
  async waves(start: number): Promise<DeployRecord> {
    for (let i = start; i < this.rollout.waves.length; i++) {
      if (this.aborted()) return this.halt(i);
      if (!(await this.runWave(i))) return this.halt(i);
    }
    return this.finish('succeeded');
  }
}

/** Run a planned rollout from preflight to its last wave. */
export async function runRollout(o: RolloutOptions): Promise<DeployRecord> {
  if (o.record.state !== 'planned') throw new Error(`deploy ${o.record.id} already ran (${o.record.state}); plan a new one, or resume it`);
  const r = new Rollout(o);
  r.setState('running');
  const problems = await r.preflight(o.record.hosts);
  if (problems.length) return r.stopInPreflight(problems);
  const plan = o.plan ?? (await r.plan(o.record.hosts));
  const planIssues = planProblems(plan, o.record.target.commit, o.record.hosts.map((h) => h.host));
  if (planIssues.length) return r.stopInPreflight(planIssues);
  r.applyPlan(plan);
  o.audit?.append('deploy.start', o.record.who, o.record);
  return r.waves(0);
}

/** Hosts a retry would rerun: those that failed their switch or a health gate (even if rolled back since). */
export function failedHosts(record: DeployRecord): string[] {
  const failed = new Set((record.rollout?.waves ?? []).flatMap((w) => w.failed ?? []));
  return record.hosts.filter((h) => (failed.has(h.host) || FAILED.includes(h.outcome)) && h.outcome !== 'succeeded').map((h) => h.host);
}

function resettable(record: DeployRecord, what: string): void {
  if (!record.rollout) throw new Error(`deploy ${record.id} is not a rollout, so it cannot be ${what}`);
  if (record.state !== 'failed' && record.state !== 'interrupted') throw new Error(`deploy ${record.id} is ${record.state}: only a halted or interrupted rollout can be ${what}`);
}

function reset(r: Rollout, h: DeployHost): void {
  // The op list stays (View Logs); generationBefore stays: what a rollback returns to.
  r.update(h, { outcome: 'pending', phase: undefined, error: undefined, failingLine: undefined, generationFailed: undefined, endedAt: undefined, rollback: undefined });
}

/**
 * Continue a halted or interrupted rollout from the first wave that did not pass: its
 * failed and unfinished hosts and every later wave run again (preflight first). A rollout
 * stopped in preflight starts over.
 */
export async function resumeRollout(o: RolloutOptions): Promise<DeployRecord> {
  const { record } = o;
  resettable(record, 'resumed');
  const r = new Rollout(o);
  const rollout = record.rollout!;
  // The first wave that did not pass, or whose hosts a policy rolled back since.
  const start = rollout.waves.findIndex((w) => w.state !== 'passed' || w.hosts.some((n) => !OK.includes(r.host(n).outcome)));
  if (start < 0) {
    // Every wave passed but the record did not end (the controller went away at the end).
    return r.finish('succeeded', 'resumed: every wave had passed');
  }
  const restartAll = record.stoppedIn === 'preflight';
  delete record.stoppedIn;
  delete record.preflight;
  delete record.stoppedBy;
  delete rollout.haltedAt;
  delete rollout.policyApplied;
  delete record.endedAt;
  const again = new Set(rollout.waves.slice(start).flatMap((w) => w.hosts));
  for (const h of record.hosts) if (again.has(h.host) && h.outcome !== 'succeeded' && h.outcome !== 'no-change' && h.outcome !== 'running') reset(r, h);
  // A host the controller lost while it switched: its op id finds the op the agent ran.
  for (const h of record.hosts) if (h.outcome === 'running') r.update(h, { outcome: 'pending' });
  for (let i = start; i < rollout.waves.length; i++) r.wave(i, { state: 'pending', failed: [], detail: undefined, startedAt: undefined, endedAt: undefined });
  r.setState('running');
  o.audit?.append('deploy.resume', record.who, record, `resuming at wave ${start + 1} (${rollout.waves[start]!.name})`);
  const hosts = record.hosts.filter((h) => h.outcome === 'pending');
  const problems = await r.preflight(hosts);
  if (problems.length) return r.stopInPreflight(problems);
  if (restartAll || hosts.some((h) => !h.plan)) {
    const plan = await r.plan(hosts);
    const planIssues = planProblems(plan, record.target.commit, hosts.map((h) => h.host));
    if (planIssues.length) return r.stopInPreflight(planIssues);
    r.applyPlan(plan);
  }
  return r.waves(start);
}

/**
 * Rerun only the hosts that failed (their switch, then soak and gate), nothing else. When
 * that makes the halted wave pass, the rollout stays halted before the next wave: resume it.
 */
export async function retryFailedHosts(o: RolloutOptions): Promise<DeployRecord> {
  const { record } = o;
  resettable(record, 'retried');
  const names = failedHosts(record);
  if (names.length === 0) throw new Error(`deploy ${record.id} has no failed host to retry`);
  const r = new Rollout(o);
  const rollout = record.rollout!;
  const hosts = names.map((n) => r.host(n));
  const saved = hosts.map((h) => ({ ...h }));
  const savedEnd = { stoppedBy: record.stoppedBy, endedAt: record.endedAt };
  delete record.stoppedBy;
  delete record.endedAt;
  // An earlier retry's refusal is history once this one passes preflight.
  delete record.preflight;
  for (const h of hosts) reset(r, h);
  r.setState('running');
  o.audit?.append('deploy.resume', record.who, record, `retrying failed hosts ${names.join(', ')}`);
  const problems = await r.preflight(hosts);
  if (problems.length) {
    // Nothing was touched by this retry: every host keeps the outcome it had.
    hosts.forEach((h, i) => r.update(h, saved[i]!));
    Object.assign(record, savedEnd);
    record.preflight = problems;
    r.setState('failed');
    o.audit?.append('deploy.end', record.who, record, `retry stopped in preflight, nothing was deployed: ${problems.map((p) => p.message).join(' | ')}`);
    return record;
  }
  const only = new Set(names);
  const waves = [...new Set(hosts.map((h) => h.wave ?? 0))].sort((a, b) => a - b);
  for (const i of waves) {
    if (!(await r.runWave(i, only))) {
      rollout.haltedAt = i;
      return r.finish('failed', `retry: wave ${i + 1} (${rollout.waves[i]!.name}) did not pass: ${rollout.waves[i]!.detail}`);
    }
  }
  const next = rollout.waves.findIndex((w) => w.state !== 'passed');
  if (next < 0) {
    delete rollout.haltedAt;
    return r.finish('succeeded', `retried ${names.join(', ')}: every wave passed`);
  }
  rollout.haltedAt = next;
  return r.finish('failed', `retried ${names.join(', ')}: they passed; wave ${next + 1} (${rollout.waves[next]!.name}) has not run: resume the rollout`);
}
