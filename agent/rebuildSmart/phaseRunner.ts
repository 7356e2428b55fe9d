// Runs the phases in order, each timed, and writes the live phase list to the journal:
//   ⏳ upstream: running / ✓ upstream 0.4s / ⚠ upstream 0.4s: ... / ⏭ dotfiles: skipped (...) /
//   ✗ rebuild: <error> / ⊘ rebuild: cancelled
// then a summary table. A phase throwing PhaseStop (or anything else) stops the run; later
// phases are reported as not run.
import { phaseStartLine } from '../../protocol';
import { PHASE_TITLES, PhaseStop, type Phase, type PhaseName, type PhaseResult, type RunState } from './types';

export interface PhaseSpec {
  name: PhaseName;
  fn: Phase;
  /** When set, the phase is skipped with this reason before it starts. */
  skip?: (run: RunState) => string | undefined;
  /** Failures of this phase are warnings: the run goes on with local state. */
  soft?: boolean;
}

export interface PhasesOutcome {
  phases: PhaseResult[];
  /** The phase that stopped the run, if any. */
  stoppedAt?: PhaseName;
  error?: string;
  cancelled: boolean;
}

const secondsSince = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
export const fmtSeconds = (s: number) => (s < 10 ? s.toFixed(1) : s.toFixed(0)) + 's';

export function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  // Multi-line git errors: the journal's phase line keeps the first meaningful line.
  return msg.split('\n').map((l) => l.trim()).filter(Boolean).join(' | ').slice(0, 600);
}

export async function runPhases(run: RunState, specs: PhaseSpec[]): Promise<PhasesOutcome> {
  const { ctx } = run;
  const results: PhaseResult[] = [];
  let stoppedAt: PhaseName | undefined;
  let error: string | undefined;
  let cancelled = false;
  for (const spec of specs) {
    const base = { name: spec.name, title: PHASE_TITLES[spec.name] };
    if (stoppedAt || cancelled) {
      results.push({ ...base, status: 'not-run', seconds: 0 });
      continue;
    }
    if (ctx.signal.aborted) {
      cancelled = true;
      stoppedAt = spec.name;
      results.push({ ...base, status: 'cancelled', seconds: 0, detail: 'cancelled before it started' });
      ctx.log('info', `⊘ ${spec.name}: cancelled before it started`);
      continue;
    }
    const why = spec.skip?.(run);
    if (why) {
      results.push({ ...base, status: 'skipped', seconds: 0, detail: why });
      ctx.log('info', `⏭ ${spec.name}: skipped (${why})`);
      continue;
    }
    ctx.log('info', phaseStartLine(spec.name));
    const t0 = process.hrtime.bigint();
    try {
      const out = (await spec.fn(run)) ?? {};
      const seconds = secondsSince(t0);
      const status = out.status ?? 'done';
      results.push({ ...base, status, seconds, detail: out.detail });
      if (status === 'skipped') ctx.log('info', `⏭ ${spec.name}: skipped (${out.detail ?? 'nothing to do'})`);
      else if (status === 'warning') {
        run.warnings.push(`${spec.name}: ${out.detail}`);
        ctx.log('info', `⚠ ${spec.name} ${fmtSeconds(seconds)}: ${out.detail}`);
      } else ctx.log('info', `✓ ${spec.name} ${fmtSeconds(seconds)}${out.detail ? ': ' + out.detail : ''}`);
    } catch (err) {
      const seconds = secondsSince(t0);
      const text = errorText(err);
      if (ctx.signal.aborted) {
        cancelled = true;
        stoppedAt = spec.name;
        results.push({ ...base, status: 'cancelled', seconds, detail: text });
        ctx.log('info', `⊘ ${spec.name}: cancelled after ${fmtSeconds(seconds)} (${text})`);
      } else if (spec.soft && !(err instanceof PhaseStop)) {
        const detail = `${text}; continued with the local state`;
        results.push({ ...base, status: 'warning', seconds, detail });
        run.warnings.push(`${spec.name}: ${detail}`);
        ctx.log('info', `⚠ ${spec.name} ${fmtSeconds(seconds)}: ${detail}`);
      } else {
        stoppedAt = spec.name;
        error = text;
        results.push({ ...base, status: 'failed', seconds, detail: text });
        ctx.log('info', `✗ ${spec.name}: ${text}`);
      }
    }
  }
  return { phases: results, stoppedAt, error, cancelled };
}

const MARK: Record<PhaseResult['status'], string> = {
  done: '✓',
  warning: '⚠',
  skipped: '⏭',
  failed: '✗',
  cancelled: '⊘',
  'not-run': '·',
};

/** The final summary table, one line per phase, as plain text lines. */
export function summaryTable(phases: PhaseResult[], heading: string): string[] {
  const wTitle = Math.max(5, ...phases.map((p) => p.title.length));
  const rows = phases.map((p) => {
    const time = p.status === 'skipped' || p.status === 'not-run' ? '' : fmtSeconds(p.seconds);
    const detail = (p.detail ?? '').slice(0, 160);
    return `${MARK[p.status]} ${p.title.padEnd(wTitle)}  ${p.status.padEnd(9)} ${time.padStart(6)}  ${detail}`.trimEnd();
  });
  const total = phases.reduce((s, p) => s + p.seconds, 0);
  return [heading, `  ${'phase'.padEnd(wTitle)}  ${'result'.padEnd(9)} ${'time'.padStart(6)}  detail`, ...rows, `  ${'total'.padEnd(wTitle)}  ${''.padEnd(9)} ${fmtSeconds(total).padStart(6)}`];
}
