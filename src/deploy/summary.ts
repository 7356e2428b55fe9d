// The deploy summary as the UI shows it (webview, notifications, tests): words for each
// outcome, the generation move per host, and the one-line headline. No vscode import.
import { describeBuildProgress } from '../../protocol';
import { failedHosts } from './rollout';
import type { RolloutWave } from './rolloutTypes';
import type { DeployHost, DeployRecord, HostOutcome } from './types';

export const OUTCOME_LABEL: Record<HostOutcome, string> = {
  pending: 'waiting',
  running: 'running',
  queued: 'queued (host offline)',
  succeeded: 'succeeded',
  'failed-switch': 'failed (switch)',
  'failed-checks': 'failed (health checks)',
  'not-attempted': 'not attempted',
  reverted: 'reverted (still running the change)',
  'rolled-back': 'rolled back',
  'rollback-failed': 'rollback failed',
  'no-change': 'no change (skipped)',
};

/** A codicon name per outcome. */
export const OUTCOME_ICON: Record<HostOutcome, string> = {
  pending: 'circle-outline',
  running: 'sync',
  queued: 'watch',
  succeeded: 'pass',
  'failed-switch': 'error',
  'failed-checks': 'warning',
  'not-attempted': 'circle-slash',
  reverted: 'discard',
  'rolled-back': 'history',
  'rollback-failed': 'error',
  'no-change': 'check',
};

/**
 * How each outcome reads at a glance (the webview's colour): one table, so a new outcome
 * (e.g. a broker's queued host) is one entry here, not a change to the page's styles.
 */
export type OutcomeTone = 'ok' | 'bad' | 'busy' | 'idle' | 'undone';
export const OUTCOME_TONE: Record<HostOutcome, OutcomeTone> = {
  pending: 'idle',
  running: 'busy',
  queued: 'busy',
  succeeded: 'ok',
  'failed-switch': 'bad',
  'failed-checks': 'bad',
  'not-attempted': 'idle',
  reverted: 'undone',
  'rolled-back': 'undone',
  'rollback-failed': 'bad',
  'no-change': 'ok',
};

export interface SummaryRow {
  host: string;
  role: 'canary' | '';
  outcome: HostOutcome;
  label: string;
  icon: string;
  phase: string;
  generations: string;
  failingLine: string;
  closureDiff: string[];
  /** "3/10 derivations built, …" while the host builds, else "". */
  progress: string;
  /** The rollout wave's number (1-based), 0 outside a rollout. */
  wave: number;
  tone: OutcomeTone;
}

/** One line per rollout wave, as the summary view and `nixfleet deploy` print it. */
export interface WaveLine {
  name: string;
  state: RolloutWave['state'];
  /** "wave 2/3 tag:web: 1 of 2 switched, soaking" */
  line: string;
  /** "soaking", "health gate", "passed", … */
  stateLabel: string;
  hosts: string[];
  failed: string[];
  /** Why the wave did not pass. */
  detail?: string;
  /** While soaking: when the health gate runs (ISO time; the view counts down). */
  soakUntil?: string;
  /** The wave the rollout halted at. */
  halted: boolean;
}

const WAVE_STATE: Record<RolloutWave['state'], string> = {
  pending: 'waiting',
  running: 'switching',
  soaking: 'soaking',
  gating: 'health gate',
  passed: 'passed',
  failed: 'failed',
  'not-attempted': 'not attempted',
};

/** The waves of a rollout as lines (empty for a plain deploy). */
export function describeWaves(r: DeployRecord): WaveLine[] {
  const waves = r.rollout?.waves ?? [];
  return waves.map((w, i) => {
    const hosts = w.hosts.map((n) => r.hosts.find((h) => h.host === n)).filter((h): h is DeployHost => !!h);
    const done = hosts.filter((h) => h.outcome === 'succeeded').length;
    const skipped = hosts.filter((h) => h.outcome === 'no-change').length;
    const failed = w.failed?.length ? `; failed: ${w.failed.join(', ')}` : '';
    return {
      name: w.name,
      state: w.state,
      line: `wave ${i + 1}/${waves.length} ${w.name}: ${done} of ${hosts.length - skipped} switched${skipped ? ` (${skipped} no change)` : ''}, ${WAVE_STATE[w.state]}${failed}`,
      stateLabel: WAVE_STATE[w.state],
      hosts: [...w.hosts],
      failed: [...(w.failed ?? [])],
      ...(w.detail ? { detail: w.detail } : {}),
      ...(w.state === 'soaking' && w.soakUntil ? { soakUntil: w.soakUntil } : {}),
      halted: r.rollout?.haltedAt === i && r.state !== 'running',
    };
  });
}

export interface DeploySummary {
  id: string;
  headline: string;
  target: string;
  who: string;
  state: DeployRecord['state'];
  startedAt: string;
  endedAt?: string;
  revert?: string;
  rows: SummaryRow[];
  counts: Partial<Record<HostOutcome, number>>;
  /** Which undo actions make sense now. */
  canRollback: boolean;
  canRevert: boolean;
  /** "Revert PR" for a PR deploy, "Revert Commit" for a commit deploy. */
  revertLabel: 'Revert PR' | 'Revert Commit';
  /** A rollout's waves, one line each (empty for a plain deploy). */
  waves: WaveLine[];
  /** A halted or interrupted rollout can go on from the wave that did not pass. */
  canResume: boolean;
  /** Hosts "Retry Failed Hosts" would rerun (a halted rollout's failed hosts). */
  retryHosts: string[];
  /** Stopped before any host was touched: the refusals, one sentence each. */
  preflight: string[];
  /** Preflight found the commit only local: Push, then try again. */
  canPush: boolean;
}

export function describeTarget(r: DeployRecord): string {
  const c = r.target.commit.slice(0, 12);
  return r.target.pr ? `PR #${r.target.pr.number}${r.target.pr.title ? ` "${r.target.pr.title}"` : ''} (merge ${c})` : `commit ${c}`;
}

function outcomeLabel(r: DeployRecord, h: DeployHost): string {
  // A revert PR only proposes the revert: until it is merged, main still has the change.
  if (h.outcome === 'reverted' && r.revert?.how === 'github-pr') return `revert PR #${r.revert.pullRequest?.number ?? '?'} opened (still running the change)`;
  if (h.outcome === 'queued' && h.queued) return `${OUTCOME_LABEL.queued}: runs when it is back, until ${h.queued.expiresAt}`;
  return OUTCOME_LABEL[h.outcome];
}

function generations(h: DeployHost): string {
  const before = h.generationBefore === undefined ? '—' : String(h.generationBefore);
  if (h.rollback && (h.rollback.outcome === 'rolled-back' || h.rollback.outcome === 'unchanged')) {
    return `${before} → ${h.generationAfter ?? '?'} → ${h.rollback.to}`;
  }
  if (h.generationAfter === undefined) return before;
  // The agent made a generation, it failed, and the host went back: "3 → 6 ✗ → 3".
  if (h.generationFailed !== undefined) return `${before} → ${h.generationFailed} ✗ → ${h.generationAfter}`;
  return `${before} → ${h.generationAfter}`;
}

export function summarizeDeploy(r: DeployRecord): DeploySummary {
  const counts: Partial<Record<HostOutcome, number>> = {};
  for (const h of r.hosts) counts[h.outcome] = (counts[h.outcome] ?? 0) + 1;
  const target = describeTarget(r);
  const n = r.hosts.length;
  let headline: string;
  switch (r.state) {
    case 'succeeded':
      headline = `Deployed ${target} to ${n} host${n === 1 ? '' : 's'}`;
      break;
    case 'failed': {
      if (r.stoppedIn === 'preflight') {
        headline = `Deploy of ${target} stopped in preflight: ${r.preflight?.[0]?.message ?? 'a check failed'}; nothing was deployed`;
        break;
      }
      if (r.rollout?.haltedAt !== undefined) {
        const w = r.rollout.waves[r.rollout.haltedAt];
        const stopper = r.hosts.find((h) => h.host === r.stoppedBy);
        headline = `Rollout of ${target} halted at ${w ? `wave ${r.rollout.haltedAt + 1} (${w.name})` : 'a wave'}${stopper ? ` on ${stopper.host}: ${stopper.failingLine ?? stopper.error ?? OUTCOME_LABEL[stopper.outcome]}` : ''}${r.rollout.policyApplied ? `; policy: ${r.rollout.policyApplied}` : ''}`;
        break;
      }
      const stopper = r.hosts.find((h) => h.host === r.stoppedBy);
      headline = `Deploy of ${target} failed${stopper ? ` on ${stopper.host}: ${stopper.failingLine ?? stopper.error ?? OUTCOME_LABEL[stopper.outcome]}` : ''}`;
      break;
    }
    case 'interrupted':
      headline = `Deploy of ${target} was interrupted (VS Code closed while it ran); hosts may have finished their switch: Refresh, or roll back`;
      break;
    case 'declined':
      headline = `Deploy of ${target} was declined after the closure diff; nothing changed`;
      break;
    case 'previewing':
      // Every host built and diffed: the deploy now waits for the user's answer.
      headline = r.hosts.every((h) => h.closureDiff !== undefined && h.phase === undefined)
        ? `Closure diffs of ${target} ready on ${n} host${n === 1 ? '' : 's'}: waiting for you to confirm the deploy`
        : `Building ${target} on ${n} host${n === 1 ? '' : 's'} for the closure diff…`;
      break;
    default: {
      const queued = counts.queued ?? 0;
      headline = `Deploying ${target} to ${n} host${n === 1 ? '' : 's'}…${queued ? ` (${queued} offline, queued until ${queued === 1 ? 'it is' : 'they are'} back)` : ''}`;
    }
  }
  return {
    id: r.id,
    headline,
    target,
    who: r.who,
    state: r.state,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    revert: r.revert
      ? `${r.revert.how === 'github-pr' ? `revert PR #${r.revert.pullRequest?.number} opened` : r.revert.how === 'github-direct' ? 'reverted on GitHub' : 'reverted with git'} (${r.revert.revertCommit.slice(0, 12)})`
      : undefined,
    rows: r.hosts.map((h) => ({
      host: h.host,
      role: h.canary ? 'canary' : '',
      outcome: h.outcome,
      label: outcomeLabel(r, h),
      icon: OUTCOME_ICON[h.outcome],
      phase: h.phase ?? '',
      generations: generations(h),
      failingLine: h.failingLine ?? (h.outcome === 'rolled-back' || h.outcome === 'rollback-failed' ? (h.rollback?.error ?? '') : ''),
      closureDiff: h.closureDiff ?? [],
      progress: h.progress && (h.phase === 'build' || h.phase === 'switch') ? describeBuildProgress(h.progress).replace(/^build progress: /, '') : '',
      wave: h.wave === undefined ? 0 : h.wave + 1,
      tone: OUTCOME_TONE[h.outcome],
    })),
    counts,
    canRollback: r.state !== 'running' && r.state !== 'previewing' && r.hosts.some((h) => h.switchStarted && h.outcome !== 'rolled-back'),
    canRevert: r.state !== 'running' && r.state !== 'previewing' && !r.revert && r.hosts.some((h) => h.switchStarted),
    // A deploy of a plain commit reverts that commit (with git), not a PR.
    revertLabel: r.target.pr ? 'Revert PR' : 'Revert Commit',
    waves: describeWaves(r),
    canResume: !!r.rollout && (r.state === 'failed' || r.state === 'interrupted'),
    retryHosts: r.rollout && (r.state === 'failed' || r.state === 'interrupted') && r.stoppedIn !== 'preflight' ? failedHosts(r) : [],
    preflight: r.stoppedIn === 'preflight' || r.state === 'failed' ? (r.preflight ?? []).map((p) => p.message) : [],
    canPush: r.state === 'failed' && (r.preflight ?? []).some((p) => p.kind === 'unpushed'),
  };
}
