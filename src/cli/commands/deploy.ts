import path from 'node:path';
import { AuditLog, localUser } from '../../deploy/audit';
import { DeployPlanError, MAX_PARALLELISM, planDeploy } from '../../deploy/plan';
import { runDeploy } from '../../deploy/run';
import { summarizeDeploy } from '../../deploy/summary';
import type { DeployHost, DeployRecord } from '../../deploy/types';
import { commitArg, hostListArg, intArg, stringFlag, UsageError } from '../args';
import { MAGIC_FLAG, type Command } from '../command';
import { NotConfirmedError } from '../confirm';
import { cliDeployAgents } from '../deployAgents';
import { hostProgress, ROLLOUT_ONLY_FLAGS, rolloutFlags, runRolloutAgain, runWaveDeploy } from './deployWaves';

export const deployCommand: Command = {
  name: 'deploy',
  summary: 'deploy a commit to hosts: canaries one at a time, then the rest in parallel (first failure stops the rest), or in waves with health gates (--wave)',
  details: [
    'The same deploy engine as the extension\'s Deploy (docs/deploy.md): every host\'s status is read first (a busy or',
    'unreachable host stops the deploy before anything changes), then, unless --no-closure-diff, every host builds the',
    'commit and its closure diff is shown before the question; then canaries switch one at a time and the rest at most',
    '--parallelism at once. Each host\'s progress goes to stderr; the summary (the Deploy Summary\'s rows) to stdout,',
    'or { "summary", "record" } with --json. Exit 0 only when every host succeeded.',
    '',
    'With --wave it is a rollout in waves (docs/cli.md): canaries (if any), then each --wave in order (HOSTS is host names,',
    'tag:NAME from the hosts file\'s "tags", or N% of the hosts not yet in a wave, comma-separated), then the rest. Preflight',
    'and the plan come first; each wave switches (at most --max-in-flight at once), soaks, then passes its health gate before',
    'the next starts. A failed wave halts the rollout (exit 1) and --on-failure says what happens to hosts that switched.',
    'Preflight checks that the commit is on origin in --repo DIR (or the current directory\'s clone). With --audit-log FILE',
    'a halted or interrupted rollout goes on with --resume ROLLOUT, and --retry-failed ROLLOUT reruns only its failed hosts.',
  ].join('\n'),
  positionals: [],
  flags: {
    rev: { type: 'string', value: 'COMMIT', help: 'the commit to deploy (required; it must be in the hosts\' origin)' },
    hosts: { type: 'string', value: 'A,B', help: 'deploy to these hosts (default: every host of the hosts file)' },
    canaries: { type: 'string', value: 'A,B', help: 'deployed first, one at a time, in this order (as nixfleet.deploy.canaryHosts)' },
    parallelism: { type: 'string', value: 'N', help: `hosts switched at once after the canaries, 1-${MAX_PARALLELISM} (default 4, as nixfleet.deploy.parallelism)` },
    'no-closure-diff': { type: 'boolean', help: 'skip the preview build and closure diff (nixfleet.deploy.showClosureDiff off)' },
    'no-magic-rollback': MAGIC_FLAG,
    'audit-log': { type: 'string', value: 'FILE', help: 'append the deploy to this JSONL audit log (the extension\'s format)' },
    verbose: { type: 'boolean', help: 'also print every op line of every host, prefixed with the host' },
    wave: { type: 'string', multiple: true, value: 'HOSTS', help: 'a rollout wave, repeatable, in order: names, tag:NAME or N%, comma-separated' },
    soak: { type: 'string', value: 'DURATION', help: 'with --wave: wait this long (30s, 5m, 1h) after a wave switched, before its health gate (default 0)' },
    'max-in-flight': { type: 'string', value: 'N', help: `with --wave: hosts switching at once within a wave, 1-${MAX_PARALLELISM} (default 4)` },
    'on-failure': { type: 'string', value: 'POLICY', help: 'with --wave: keep, rollback-wave or rollback-all when a wave fails (default: ask on a terminal, else keep)' },
    repo: { type: 'string', value: 'DIR', help: 'with --wave: the clone preflight checks the commit is pushed from (default: the current directory when it is a git clone)' },
    resume: { type: 'string', value: 'ROLLOUT', help: 'continue a halted or interrupted rollout from --audit-log at the wave that did not pass' },
    'retry-failed': { type: 'string', value: 'ROLLOUT', help: 'rerun only the failed hosts of a halted rollout from --audit-log (then --resume it for later waves)' },
  },
  mutating: true,
  finishesOnInterrupt: true,
  async run(ctx) {
    const resume = stringFlag(ctx.flags, 'resume');
    const retry = stringFlag(ctx.flags, 'retry-failed');
    if (resume !== undefined && retry !== undefined) throw new UsageError('deploy: give --resume or --retry-failed, not both (retry the failed hosts first, then resume)');
    if (resume !== undefined) return runRolloutAgain(ctx, 'resume', resume);
    if (retry !== undefined) return runRolloutAgain(ctx, 'retry-failed', retry);
    const revText = stringFlag(ctx.flags, 'rev');
    if (revText === undefined) throw new UsageError('deploy: give the commit with --rev COMMIT (e.g. --rev "$(git rev-parse HEAD)")');
    const rev = commitArg('deploy', 'rev', revText);
    const hostsText = stringFlag(ctx.flags, 'hosts');
    const canariesText = stringFlag(ctx.flags, 'canaries');
    const parallelismText = stringFlag(ctx.flags, 'parallelism');
    // Rollout values are checked before the hosts file is read: a typo is the first thing said.
    const waved = ctx.flags.wave !== undefined ? rolloutFlags(ctx) : undefined;
    if (!waved) for (const f of ROLLOUT_ONLY_FLAGS) if (ctx.flags[f] !== undefined) throw new UsageError(`deploy: --${f} applies to a rollout in waves; add --wave HOSTS (e.g. --wave 25%) or drop --${f}`);
    const parallelism = parallelismText === undefined ? 4 : intArg('deploy', 'parallelism', parallelismText, 1, MAX_PARALLELISM);
    const hosts = hostsText === undefined ? ctx.source().hosts().map((h) => h.name) : hostListArg('deploy', 'hosts', hostsText);
    const canaries = canariesText === undefined ? [] : hostListArg('deploy', 'canaries', canariesText);
    for (const h of hosts) ctx.knownHost(h);
    for (const c of canaries) if (!hosts.includes(c)) throw new UsageError(`deploy: canary ${c} is not one of the hosts deployed to; add it to --hosts or drop it from --canaries`);
    if (waved) {
      if (parallelismText !== undefined) throw new UsageError('deploy: --parallelism is for a deploy without waves; with --wave use --max-in-flight N');
      if (ctx.flags['no-closure-diff'] === true) throw new UsageError('deploy: a rollout in waves always builds its plan first, so --no-closure-diff does not apply; drop it');
      return runWaveDeploy(ctx, { rev, hosts, canaries }, waved);
    }
    const auditFile = stringFlag(ctx.flags, 'audit-log');
    const audit = auditFile === undefined ? undefined : new AuditLog(path.resolve(auditFile));
    for (const h of hosts) ctx.source().checkCanOperate(h);
    ctx.requireConfirmable('deploy');

    let record: DeployRecord;
    try {
      record = planDeploy({ target: { commit: rev }, hosts, canaries, parallelism, who: localUser() });
    } catch (err) {
      if (err instanceof DeployPlanError) throw new UsageError(`deploy: ${err.message}`);
      throw err;
    }
    const order = `${canaries.length ? `canaries first (${canaries.join(', ')}), then ` : ''}${Math.min(parallelism, hosts.length - canaries.length)} at a time`;
    const question = `Deploy commit ${rev.slice(0, 12)} to ${hosts.length} host${hosts.length === 1 ? '' : 's'} (${hosts.join(', ')}; ${order})?`;
    const preview = ctx.flags['no-closure-diff'] !== true;
    if (!preview) await ctx.confirm('deploy', question);

    const progress = hostProgress(ctx);
    const verbose = ctx.flags.verbose === true;
    const agents = cliDeployAgents(
      ctx.connections(),
      (host, text) => ctx.out.note(`${host}: ${text}`),
      verbose ? (host, lines) => lines.forEach((l) => ctx.out.opLine(l, true, `${host} | `)) : undefined,
    );
    const final = await runDeploy({
      agents,
      record,
      audit,
      signal: ctx.signal,
      magicRollback: ctx.flags['no-magic-rollback'] !== true,
      onEvent: (e) => e.type === 'host' && progress(e.host),
      ...(preview
        ? {
            confirm: async (previewed: readonly DeployHost[]) => {
              for (const h of previewed) {
                ctx.out.note(`closure diff of ${h.host}:`);
                for (const l of h.closureDiff?.length ? h.closureDiff : ['(no change)']) ctx.out.note(`  ${l}`);
              }
              try {
                await ctx.confirm('deploy', question);
                return true;
              } catch (err) {
                if (err instanceof NotConfirmedError) return false;
                throw err;
              }
            },
          }
        : {}),
    });
    const summary = summarizeDeploy(final);
    if (ctx.json) ctx.out.json({ summary, record: final });
    else {
      ctx.out.print(summary.headline);
      ctx.out.table(
        ['HOST', 'ROLE', 'OUTCOME', 'GENERATIONS', 'FAILING LINE'],
        summary.rows.map((r) => [r.host, r.role || '-', r.label, r.generations, r.failingLine || '-']),
      );
    }
    return final.state === 'succeeded' ? 0 : 1;
  },
};
