// `nixfleet deploy --wave …`: the deploy as a rollout in waves (src/deploy/rollout.ts, the
// same engine as the extension's): preflight, the plan, then each wave switches, soaks and
// passes its health gate before the next starts. Wave progress goes to stderr, the summary
// to stdout; exit 1 when the rollout halted or preflight refused.
import path from 'node:path';
import { AuditLog, localUser } from '../../deploy/audit';
import { DeployPlanError, MAX_PARALLELISM } from '../../deploy/plan';
import { existsSync } from 'node:fs';
import { simpleGit } from 'simple-git';
import { failedHosts, MAX_SOAK_MS, planRollout, resumeRollout, retryFailedHosts, runRollout, type RolloutOptions } from '../../deploy/rollout';
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
export const ROLLOUT_ONLY_FLAGS = ['soak', 'max-in-flight', 'on-failure', 'repo'] as const;

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
  const repoDir = await preflightClone(ctx);
  // Said once the rollout is valid, so a usage error stays the only line.
  if (!f.policy && onFailure === 'keep') ctx.out.note('deploy: no --on-failure and no terminal to ask on: if a wave fails, the hosts that switched keep the new generation (keep)');
  const layout = record.rollout!.waves.map((w, i) => `wave ${i + 1} ${w.name}: ${w.hosts.join(', ')}`).join('; ');
  const soak = f.soakMs ? `, soak ${stringFlag(ctx.flags, 'soak')}` : '';
  await ctx.confirm('deploy', `Deploy commit ${a.rev.slice(0, 12)} to ${a.hosts.length} host${a.hosts.length === 1 ? '' : 's'} in ${record.rollout!.waves.length} wave${record.rollout!.waves.length === 1 ? '' : 's'} (${layout}${soak}; at most ${record.rollout!.maxInFlight} at once)?`);
  return followRollout(ctx, record, audit, (o) => runRollout({ ...o, ...(repoDir ? { repoDir } : {}) }));
}

type RolloutStart = (o: RolloutOptions) => Promise<DeployRecord>;

/** Run a rollout (new, resumed or retried) with the wave and host lines on stderr, then print its summary. */
async function followRollout(ctx: CliContext, record: DeployRecord, audit: AuditLog | undefined, start: RolloutStart): Promise<number> {
  const onFailure = record.rollout!.onFailure;
  const verbose = ctx.flags.verbose === true;
  const agents = cliDeployAgents(
    ctx.connections(),
    (host, text) => ctx.out.note(`${host}: ${text}`),
    verbose ? (host, lines) => lines.forEach((l) => ctx.out.opLine(l, true, `${host} | `)) : undefined,
  );
  const hostLine = hostProgress(ctx);
  const shownWave = new Map<number, string>();
  const final = await start({
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
  if (final.state !== 'succeeded') {
    const retry = summary.retryHosts.length ? ` or rerun only ${summary.retryHosts.join(', ')} with --retry-failed ${final.id}` : '';
    ctx.out.note(audit ? `rollout ${final.id}: continue it with nixfleet deploy --resume ${final.id} --audit-log ${audit.file}${retry}` : `rollout ${final.id} was not recorded (no --audit-log FILE), so it cannot be resumed or retried`);
  }
  return final.state === 'succeeded' ? 0 : 1;
}

/**
 * The clone preflight checks the commit in (it must be on origin, where the hosts fetch):
 * --repo DIR, else the current directory when it is a git clone. Outside a clone the check
 * is skipped, and that is said.
 */
async function preflightClone(ctx: CliContext): Promise<string | undefined> {
  const given = stringFlag(ctx.flags, 'repo');
  const dir = path.resolve(given ?? '.');
  const top = existsSync(dir) ? (await simpleGit({ baseDir: dir }).raw(['rev-parse', '--show-toplevel']).catch(() => '')).trim() : '';
  if (!top) {
    if (given !== undefined) throw new UsageError(`deploy: --repo ${printable(given)} is not a git clone; give the nixcfg clone the hosts pull from`);
    ctx.out.note(`deploy: ${dir} is not a git clone, so preflight does not check that the commit is on origin; run from the nixcfg clone or give --repo DIR`);
    return undefined;
  }
  return top;
}

/** `--resume ID` / `--retry-failed ID`: the rollout as the audit log (--audit-log) last recorded it. */
export async function runRolloutAgain(ctx: CliContext, mode: 'resume' | 'retry-failed', id: string): Promise<number> {
  const flag = `--${mode}`;
  if (!/^[a-z0-9]{1,40}$/.test(id)) throw new UsageError(`deploy: ${flag} takes a rollout id such as ${newDeployIdExample}, not "${printable(id)}"`);
  const auditFile = stringFlag(ctx.flags, 'audit-log');
  if (auditFile === undefined) throw new UsageError(`deploy: ${flag} reads the rollout from its audit log: add --audit-log FILE (the one the rollout was run with)`);
  for (const f of ['rev', 'hosts', 'canaries', 'parallelism', 'wave', 'soak', 'max-in-flight', 'no-closure-diff']) {
    if (ctx.flags[f] !== undefined) throw new UsageError(`deploy: ${flag} continues the rollout as it was laid out; drop --${f}`);
  }
  const audit = new AuditLog(path.resolve(auditFile));
  const record = audit.deploys().find((d) => d.id === id);
  if (!record) throw new UsageError(`deploy: ${audit.file} has no deploy ${id}; list them with jq -r .deploy ${audit.file} | sort -u`);
  if (!record.rollout) throw new UsageError(`deploy: deploy ${id} was not a rollout in waves, so it cannot be resumed or retried; deploy the commit again`);
  // Running according to the log but not in any process: its controller went away.
  if (record.state === 'running' || record.state === 'previewing' || record.state === 'planned') record.state = 'interrupted';
  if (record.state !== 'failed' && record.state !== 'interrupted') throw new UsageError(`deploy: rollout ${id} ${record.state}: only a halted or interrupted rollout can be ${mode === 'resume' ? 'resumed' : 'retried'}`);
  const retry = mode === 'retry-failed' ? failedHosts(record) : [];
  if (mode === 'retry-failed' && retry.length === 0) throw new UsageError(`deploy: rollout ${id} has no failed host to retry; resume it with --resume ${id}`);
  const repoDir = await preflightClone(ctx);
  const policyText = stringFlag(ctx.flags, 'on-failure');
  if (policyText !== undefined) {
    if (!POLICIES.includes(policyText as FailurePolicy)) throw new UsageError(`deploy: --on-failure takes keep, rollback-wave or rollback-all, not "${printable(policyText)}"`);
    record.rollout.onFailure = policyText as FailurePolicy;
  } else if (record.rollout.onFailure === 'ask' && !ctx.canAsk) {
    record.rollout.onFailure = 'keep';
    ctx.out.note('deploy: no --on-failure and no terminal to ask on: if a wave fails, the hosts that switched keep the new generation (keep)');
  }
  const hosts = mode === 'retry-failed' ? retry : record.hosts.filter((h) => h.outcome !== 'succeeded' && h.outcome !== 'no-change').map((h) => h.host);
  for (const h of hosts) ctx.source().checkCanOperate(h);
  ctx.requireConfirmable('deploy');
  const at = record.rollout.waves.findIndex((w) => w.state !== 'passed');
  await ctx.confirm(
    'deploy',
    mode === 'retry-failed'
      ? `Retry the failed host${retry.length === 1 ? '' : 's'} ${retry.join(', ')} of rollout ${id} (commit ${record.target.commit.slice(0, 12)})?`
      : `Resume rollout ${id} (commit ${record.target.commit.slice(0, 12)}) at wave ${at + 1}${at >= 0 ? ` (${record.rollout.waves[at]!.name})` : ''}: ${hosts.join(', ') || 'no host'} to go?`,
  );
  const extra = repoDir ? { repoDir } : {};
  return followRollout(ctx, record, audit, (o) => (mode === 'resume' ? resumeRollout({ ...o, ...extra }) : retryFailedHosts({ ...o, ...extra })));
}

const newDeployIdExample = 'mi9x0k2ab12cd';

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
