// The deploy service the extension holds: the current (or last) deploy, its live events,
// the audit log, and the undo actions. No vscode import, so the whole flow runs in tests.
import type { Octokit } from '@octokit/rest';
import { Emitter } from '../fleet/emitter';
import type { GitHubRepo } from '../github/client';
import { revertPullRequest, type RevertMode, type RevertResult } from '../github/revert';
import { revertLocally, type LocalRevertResult } from '../gitops/revert';
import { AuditLog } from './audit';
import { planDeploy, type PlanOptions } from './plan';
import { runDeploy } from './run';
import { buildFleetPlan, type FleetPlan } from './fleetPlan';
import { planRollout, resumeRollout, retryFailedHosts, runRollout, type RolloutOptions, type RolloutPlanOptions } from './rollout';
import type { DeployAgents, DeployEvent, DeployHost, DeployRecord } from './types';
import { markReverted, rollbackDeployedHosts } from './undo';

export interface DeployServiceDeps {
  agents: DeployAgents;
  /** Absolute path of the JSONL audit log (the extension uses its globalStorage). */
  auditFile: string;
}

/** What a rollout takes besides its record: the plan, the workspace clone, the "ask" answer, cancel. */
export type RolloutExtras = Partial<Pick<RolloutOptions, 'plan' | 'repoDir' | 'remote' | 'ask' | 'signal' | 'magicRollback'>>;

export class DeployService {
  readonly onEvent = new Emitter<DeployEvent>();
  readonly audit: AuditLog;
  private current: DeployRecord | undefined;
  private running = false;

  constructor(private readonly deps: DeployServiceDeps) {
    this.audit = new AuditLog(deps.auditFile);
  }

  /** The deploy shown in the summary: the one running, else the last one in the audit log. */
  last(): DeployRecord | undefined {
    if (!this.current) {
      const logged = this.audit.lastDeploy();
      // Running according to the log but not in this process: its controller went away. The
      // hosts' ops may have finished on their own; rollback reads each host's status first.
      if (logged && (logged.state === 'running' || logged.state === 'previewing' || logged.state === 'planned')) logged.state = 'interrupted';
      this.current = logged;
    }
    return this.current;
  }

  /** The deploy `id` from the audit log, or (no id) the last one; throws saying what to do when there is none. */
  find(id?: unknown): DeployRecord {
    if (id !== undefined) {
      const found = this.audit.deploys().find((d) => d.id === id);
      if (!found) throw new Error(`deploy "${String(id)}" is not in the deploy audit log (${this.audit.file})`);
      return found;
    }
    const last = this.last();
    if (!last) throw new Error('there is no deploy yet: run "NixFleet: Deploy" first');
    return last;
  }

  get busy(): boolean {
    return this.running;
  }

  private exclusive<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.running) return Promise.reject(new Error(`a deploy or undo is already running (${this.current?.id}); wait for it to finish before ${what}`));
    this.running = true;
    return fn().finally(() => (this.running = false));
  }

  private emit = (e: DeployEvent) => this.onEvent.fire(e);

  deploy(plan: PlanOptions, opts: { confirm?: (hosts: readonly DeployHost[]) => Promise<boolean>; signal?: AbortSignal; magicRollback?: boolean } = {}): Promise<DeployRecord> {
    return this.exclusive('starting another deploy', async () => {
      const record = planDeploy(plan);
      this.current = record;
      return runDeploy({ agents: this.deps.agents, record, audit: this.audit, onEvent: this.emit, confirm: opts.confirm, signal: opts.signal, magicRollback: opts.magicRollback });
    });
  }

  /** The plan alone (Plan Deploy): every host builds `commit` without activating. */
  plan(commit: string, hosts: readonly string[], opts: { id?: string; signal?: AbortSignal; onHost?: Parameters<typeof buildFleetPlan>[0]['onHost']; onProgress?: Parameters<typeof buildFleetPlan>[0]['onProgress'] } = {}): Promise<FleetPlan> {
    return buildFleetPlan({ agents: this.deps.agents, id: opts.id ?? `plan${Date.now().toString(36)}`, commit, hosts, signal: opts.signal, onHost: opts.onHost, onProgress: opts.onProgress });
  }

  /** A rollout in waves; `plan` is the one the user saw (else it is built first). */
  rollout(plan: RolloutPlanOptions, opts: RolloutExtras = {}): Promise<DeployRecord> {
    return this.exclusive('starting a rollout', async () => {
      const record = planRollout(plan);
      this.current = record;
      return runRollout(this.rolloutOptions(record, opts));
    });
  }

  /** Continue the last (or given) halted or interrupted rollout from the wave that did not pass. */
  resume(record = this.last(), opts: RolloutExtras = {}): Promise<DeployRecord> {
    if (!record) return Promise.reject(new Error('there is no rollout to resume: the audit log has none'));
    return this.exclusive('resuming a rollout', () => {
      this.current = record;
      return resumeRollout(this.rolloutOptions(record, opts));
    });
  }

  /** Rerun only the hosts that failed in the last (or given) rollout. */
  retryFailed(record = this.last(), opts: RolloutExtras = {}): Promise<DeployRecord> {
    if (!record) return Promise.reject(new Error('there is no rollout whose failed hosts could be retried: the audit log has none'));
    return this.exclusive('retrying failed hosts', () => {
      this.current = record;
      return retryFailedHosts(this.rolloutOptions(record, opts));
    });
  }

  private rolloutOptions(record: DeployRecord, opts: RolloutExtras): RolloutOptions {
    return { agents: this.deps.agents, record, audit: this.audit, onEvent: this.emit, ...opts };
  }

  rollback(who: string, record = this.last(), hosts?: readonly string[], opts: { magicRollback?: boolean } = {}): Promise<DeployRecord> {
    if (!record) return Promise.reject(new Error('there is no deploy to roll back: the audit log has none'));
    return this.exclusive('rolling back', () => rollbackDeployedHosts({ agents: this.deps.agents, record, hosts, who, audit: this.audit, onEvent: this.emit, magicRollback: opts.magicRollback }));
  }

  async revertOnGitHub(octokit: Octokit, repo: GitHubRepo, pull: number, mode: RevertMode, who: string, record = this.last()): Promise<RevertResult> {
    const res = await revertPullRequest(octokit, { repo, pull, mode });
    if (record && record.target.commit && res.pr.mergeCommit.startsWith(record.target.commit)) {
      markReverted(record, {
        how: mode === 'direct' ? 'github-direct' : 'github-pr',
        revertCommit: res.revertCommit,
        ...(res.pullRequest ? { pullRequest: res.pullRequest } : {}),
        ...(res.branch ? { branch: res.branch } : {}),
        at: new Date().toISOString(),
      }, who, this.audit, this.emit);
    }
    return res;
  }

  async revertInClone(repoDir: string, commit: string, who: string, record = this.last()): Promise<LocalRevertResult> {
    const res = await revertLocally({ repoDir, commit });
    if (record && res.reverted.startsWith(record.target.commit)) {
      markReverted(record, { how: 'git', revertCommit: res.revertCommit, at: new Date().toISOString() }, who, this.audit, this.emit);
    }
    return res;
  }
}
