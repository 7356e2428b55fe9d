// `nixfleet deploy --wave …`: the deploy as a rollout in waves (src/deploy/rollout.ts, the
// same engine as the extension's): preflight, the plan, then each wave switches, soaks and
// passes its health gate before the next starts. Wave progress goes to stderr, the summary
// to stdout; exit 1 when the rollout halted or preflight refused.
import path from 'node:path';
import { AuditLog, localUser } from '../../deploy/audit';
import { DeployPlanError, MAX_PARALLELISM } from '../../deploy/plan';
import { MAX_SOAK_MS, planRollout, runRollout } from '../../deploy/rollout';
import { FAILURE_POLICIES, type FailurePolicy } from '../../deploy/rolloutTypes';
import { entryTags, parseDuration, parseWaveSpec, WaveSpecError } from '../../deploy/rolloutWaves';
import { describeWaves, OUTCOME_LABEL, summarizeDeploy } from '../../deploy/summary';
import type { DeployHost, DeployRecord } from '../../deploy/types';
import { printable } from '../../../protocol';
import { intArg, stringFlag, stringsFlag, UsageError } from '../args';
import type { CliContext } from '../context';
import { cliDeployAgents } from '../deployAgents';

const POLICIES = FAILURE_POLICIES.filter((p): p is FailurePolicy => p !== 'ask');

/** The flags that only a rollout takes; given without --wave they are an error. */
export const ROLLOUT_ONLY_FLAGS = ['soak', 'max-in-flight', 'on-failure'] as const;

export interface RolloutFlags {
  waves: string[];
  soakMs: number;
  maxInFlight: number;
  policy?: FailurePolicy;
}

export interface WaveDeployArgs {
  rev: string;
  hosts: string[];
  canaries: string[];
}

/** Validate --wave/--soak/--max-in-flight/--on-failure: one sentence and exit 2 on a bad value. */
export function rolloutFlags(ctx: CliContext): RolloutFlags {
  const waves = stringsFlag(ctx.flags, 'wave');
  for (const w of waves) {
    try {
      parseWaveSpec(w);
    } catch (err) {
      if (err instanceof WaveSpecError) throw new UsageError(`deploy: --wave: ${err.message}`);
      throw err;
    }
  }
  const soakText = stringFlag(ctx.flags, 'soak');
  let soakMs = 0;
  if (soakText !== undefined) {
    try {
      soakMs = parseDuration(soakText);
    } catch (err) {
      if (err instanceof WaveSpecError) throw new UsageError(`deploy: --soak: ${err.message}`);
      throw err;
    }
    if (soakMs > MAX_SOAK_MS) throw new UsageError(`deploy: --soak "${printable(soakText)}" is longer than 24 hours; give at most 24h`);
  }
  const inFlightText = stringFlag(ctx.flags, 'max-in-flight');
  const maxInFlight = inFlightText === undefined ? 4 : intArg('deploy', 'max-in-flight', inFlightText, 1, MAX_PARALLELISM);
  const policyText = stringFlag(ctx.flags, 'on-failure');
  if (policyText !== undefined && !POLICIES.includes(policyText as FailurePolicy)) {
    throw new UsageError(`deploy: --on-failure takes keep, rollback-wave or rollback-all, not "${printable(policyText)}"`);
  }
  return { waves, soakMs, maxInFlight, ...(policyText !== undefined ? { policy: policyText as FailurePolicy } : {}) };
}

export async function runWaveDeploy(ctx: CliContext, a: WaveDeployArgs, f: RolloutFlags): Promise<number> {
  const auditFile = stringFlag(ctx.flags, 'audit-log');
  const audit = auditFile === undefined ? undefined : new AuditLog(path.resolve(auditFile));
  for (const h of a.hosts) ctx.source().checkCanOperate(h);
  ctx.requireConfirmable('deploy');
  // Without --on-failure: ask on a terminal when a wave fails; without one, keep (and say so now).
  const onFailure: FailurePolicy | 'ask' = f.policy ?? (ctx.canAsk ? 'ask' : 'keep');

  let record: DeployRecord;
  try {
    record = planRollout({
      target: { commit: a.rev },
      hosts: a.hosts,
      canaries: a.canaries,
      waves: f.waves,
      tags: entryTags(ctx.source().hosts().map((h) => ({ name: h.name, tags: h.tags }))),
      soakMs: f.soakMs,
      maxInFlight: f.maxInFlight,
      onFailure,
      who: localUser(),
    });
  } catch (err) {
    if (err instanceof DeployPlanError) throw new UsageError(`deploy: ${err.message}`);
    throw err;
  }
  // Said once the rollout is valid, so a usage error stays the only line.
  if (!f.policy && onFailure === 'keep') ctx.out.note('deploy: no --on-failure and no terminal to ask on: if a wave fails, the hosts that switched keep the new generation (keep)');
  const layout = record.rollout!.waves.map((w, i) => `wave ${i + 1} ${w.name}: ${w.hosts.join(', ')}`).join('; ');
  const soak = f.soakMs ? `, soak ${stringFlag(ctx.flags, 'soak')}` : '';
  await ctx.confirm('deploy', `Deploy commit ${a.rev.slice(0, 12)} to ${a.hosts.length} host${a.hosts.length === 1 ? '' : 's'} in ${record.rollout!.waves.length} wave${record.rollout!.waves.length === 1 ? '' : 's'} (${layout}${soak}; at most ${record.rollout!.maxInFlight} at once)?`);

  const verbose = ctx.flags.verbose === true;
  const agents = cliDeployAgents(
    ctx.connections(),
    (host, text) => ctx.out.note(`${host}: ${text}`),
    verbose ? (host, lines) => lines.forEach((l) => ctx.out.opLine(l, true, `${host} | `)) : undefined,
  );
  const hostLine = hostProgress(ctx);
  const shownWave = new Map<number, string>();
  const final = await runRollout({
    agents,
    record,
    audit,
    signal: ctx.signal,
    magicRollback: ctx.flags['no-magic-rollback'] !== true,
    onEvent: (e) => {
      if (e.type === 'host') hostLine(e.host);
      else if (e.type === 'wave') {
        // The core's own wave line, once per state change.
        const line = describeWaves(record)[e.index]?.line;
        if (line && shownWave.get(e.index) !== e.wave.state) {
          shownWave.set(e.index, e.wave.state);
          ctx.out.note(line);
        }
      }
    },
    ...(onFailure === 'ask'
      ? {
          ask: async (q: { wave: number; failed: string[] }) => {
            const w = record.rollout!.waves[q.wave]!;
            ctx.out.note(`wave ${q.wave + 1} (${w.name}) failed on ${q.failed.join(', ') || 'its hosts'}; the rollout halted and later waves will not run.`);
            return ctx.choose('What happens to the hosts that already switched: keep them, roll back this wave, or roll back every host?', POLICIES);
          },
        }
      : {}),
  });
  const summary = summarizeDeploy(final);
  if (ctx.json) ctx.out.json({ summary, record: final });
  else {
    ctx.out.print(summary.headline);
    for (const p of final.preflight ?? []) ctx.out.print(`preflight: ${p.message}`);
    for (const w of summary.waves) ctx.out.print(w.line);
    ctx.out.table(
      ['HOST', 'WAVE', 'OUTCOME', 'GENERATIONS', 'FAILING LINE'],
      summary.rows.map((r) => {
        const h = final.hosts.find((x) => x.host === r.host);
        return [r.host, h?.wave !== undefined ? String(h.wave + 1) : '-', r.label, r.generations, r.failingLine || '-'];
      }),
    );
  }
  return final.state === 'succeeded' ? 0 : 1;
}

/** One stderr line per host whenever its phase or outcome changes. */
export function hostProgress(ctx: CliContext): (h: DeployHost) => void {
  const shown = new Map<string, string>();
  return (h) => {
    const label = h.outcome === 'pending' || h.outcome === 'running' ? (h.phase ? `${h.phase}…` : undefined) : OUTCOME_LABEL[h.outcome];
    if (!label || shown.get(h.host) === label) return;
    shown.set(h.host, label);
    const gens = h.generationAfter !== undefined ? ` (generation ${h.generationBefore ?? '?'} → ${h.generationAfter})` : '';
    const why = h.failingLine && (h.outcome === 'failed-switch' || h.outcome === 'failed-checks') ? `: ${h.failingLine}` : '';
    ctx.out.note(`${h.host}: ${label}${gens}${why}`);
  };
}
