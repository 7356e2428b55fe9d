// gc: delete the profile's generations older than N days, never the current one nor the last
// known working one (gcPlan, protocol/rules.ts). A dry run lists what would go; the deleting
// run deletes only the list the caller confirmed, and refuses, deleting nothing, when any of
// it is no longer allowed to go. The store paths stay until the store is garbage-collected.
import { createInterface } from 'node:readline/promises';
import { gcPlan, opParams, opResults, parseDays, type Generation, type OpParams, type OpResultOf } from '../../protocol';
import type { AgentConfig } from '../config';
import { listGenerations } from '../nix/generations';
import { readProfile } from '../nix/profile';
import { withProfileLock } from '../nix/profileLock';
import { commandFailure } from '../nix/system';
import { requireReadableState } from './common';
import { givenFlags } from './cliFlags';
import type { OpContext, OpDefinition } from './types';
import { OpError } from './types';

type GcResult = OpResultOf<'gc'>;

/** What gc would delete on this host now, and what it keeps among the old ones. */
export async function planGc(config: Pick<AgentConfig, 'profile' | 'platform' | 'stateDir'>, olderThanDays: number, now = Date.now()) {
  return gcPlan(await listGenerations(config), olderThanDays, now);
}

const describe = (g: Pick<Generation, 'generation' | 'createdAt' | 'revision'>) =>
  `generation ${g.generation} (${g.createdAt.slice(0, 16).replace('T', ' ')} UTC${g.revision ? `, revision ${g.revision.slice(0, 12)}` : ''})`;
const numbers = (gs: readonly { generation: number }[]) => gs.map((g) => g.generation).join(', ');

/** The confirmed generations, each still one gc may delete; otherwise OpError naming the first that is not and why. */
function confirmedDeletions(host: string, gens: readonly Generation[], params: OpParams<'gc'>, plan: ReturnType<typeof gcPlan<Generation>>): Generation[] {
  const confirmed = [...new Set(params.generations ?? [])].sort((a, b) => a - b);
  return confirmed.map((n) => {
    const g = plan.delete.find((d) => d.generation === n);
    if (g) return g;
    const kept = plan.kept.find((k) => k.generation.generation === n);
    const why = kept
      ? kept.reason === 'current'
        ? 'it is the current generation'
        : 'it is the last known working generation'
      : gens.some((x) => x.generation === n)
        ? `it is not older than ${params.olderThanDays} days`
        : 'it does not exist (deleted meanwhile, or never existed)';
    throw new OpError(`host ${host}: generation ${n} cannot be deleted: ${why}; nothing was deleted: list the generations again with a dry run and confirm that list`);
  });
}

export const gcOp: OpDefinition<'gc'> = {
  kind: 'gc',
  // It deletes profile generations: the host lock, an authenticated controller, the audit log.
  effects: ['changes-host'],
  detached: false,
  restartsAgent: false,
  params: opParams.gc,
  result: opResults.gc,
  cli: {
    summary: 'delete generations older than --older-than DAYS (never the current or last known working one); asks first, --yes off a terminal',
    flags: {
      'older-than': { type: 'string', value: 'DAYS', help: 'age limit, e.g. 30d (1 to 36500 days)', required: true },
      'dry-run': { type: 'boolean', help: 'list the generations it would delete, delete none' },
      yes: { type: 'boolean', help: 'delete without asking (needed when stdin/stderr is not a terminal)' },
    },
    toParams(f) {
      if (typeof f['older-than'] !== 'string') throw new Error('--older-than DAYS is required, e.g. --older-than 30d');
      return givenFlags({ olderThanDays: parseDays(f['older-than']), dryRun: f['dry-run'] });
    },
    confirm: confirmOnTerminal,
  },
  async validate(ctx, params) {
    requireReadableState(ctx);
    if (params.dryRun) return;
    const gens = await listGenerations(ctx.config);
    confirmedDeletions(ctx.config.host, gens, params, gcPlan(gens, params.olderThanDays));
  },
  async run(ctx, params) {
    const { host, profile } = ctx.config;
    // Planned again: generations may have changed between validate and run.
    const gens = await listGenerations(ctx.config);
    const plan = gcPlan(gens, params.olderThanDays);
    const kept = plan.kept.map((k) => ({ generation: k.generation.generation, reason: k.reason }));
    for (const k of plan.kept) ctx.log('info', `keeps ${describe(k.generation)}: ${k.reason === 'current' ? 'the current generation' : 'the last known working generation'}`);
    const base: GcResult = { olderThanDays: params.olderThanDays, kept };
    if (params.dryRun) {
      for (const g of plan.delete) ctx.log('stdout', `would delete ${describe(g)}`);
      return {
        ...base,
        dryRun: true,
        generations: plan.delete.map((g) => ({ generation: g.generation, createdAt: g.createdAt, path: g.path })),
        message: plan.delete.length
          ? `host ${host}: ${plan.delete.length} generation(s) older than ${params.olderThanDays} days would be deleted: ${numbers(plan.delete)}; nothing was deleted`
          : `host ${host}: no generation older than ${params.olderThanDays} days to delete${kept.length ? ` (kept: ${numbers(kept)})` : ''}`,
      };
    }
    const doomed = confirmedDeletions(host, gens, params, plan);
    const argv = ['nix-env', '-p', profile, '--delete-generations', ...doomed.map((g) => String(g.generation))];
    try {
      await withProfileLock(profile, host, () => ctx.run(argv));
    } catch (err) {
      if (err instanceof OpError) throw err;
      throw commandFailure(ctx, `deleting generations ${numbers(doomed)} of ${profile}`, err, 'list the generations and run gc again');
    }
    const left = new Set(readProfile(profile).links.map((l) => l.generation));
    const stayed = doomed.filter((g) => left.has(g.generation));
    if (stayed.length) {
      throw new OpError(`host ${host}: nix-env left generation(s) ${numbers(stayed)} in ${profile}; list the generations and delete them by hand (nix-env -p ${profile} --delete-generations ${numbers(stayed).replace(/, /g, ' ')})`);
    }
    for (const g of doomed) ctx.log('stdout', `deleted ${describe(g)}`);
    return {
      ...base,
      generations: doomed.map((g) => ({ generation: g.generation, createdAt: g.createdAt, path: g.path })),
      message: `host ${host}: deleted ${doomed.length} generation(s) older than ${params.olderThanDays} days: ${numbers(doomed)}; their store paths are freed by the next store garbage collection (nix-store --gc)`,
    };
  },
};

/**
 * The CLI's confirmation: list what goes (planned here, by the op's own rule, from the same
 * profile the worker reads), then ask on a terminal; off a terminal --yes is required. Returns
 * the params with the confirmed list, or the exit code when nothing is to be started.
 */
async function confirmOnTerminal(config: AgentConfig, params: Record<string, unknown>, flags: Record<string, string | boolean | undefined>): Promise<Record<string, unknown> | number> {
  if (params.dryRun === true) return params;
  const days = params.olderThanDays as number;
  const plan = await planGc(config, days);
  const err = process.stderr;
  for (const k of plan.kept) err.write(`keeps ${describe(k.generation)}: ${k.reason === 'current' ? 'the current generation' : 'the last known working generation'}\n`);
  if (!plan.delete.length) {
    err.write(`host ${config.host}: no generation older than ${days} days to delete; nothing was started\n`);
    return 0;
  }
  err.write(`gc deletes ${plan.delete.length} generation(s) of host ${config.host} older than ${days} days:\n`);
  for (const g of plan.delete) err.write(`  ${describe(g)}\n`);
  if (flags.yes !== true) {
    if (!process.stdin.isTTY || !err.isTTY) throw new Error(`deleting generations needs a confirmation: run it on a terminal, or add --yes once the list above is what should go`);
    const rl = createInterface({ input: process.stdin, output: err });
    let answer: string;
    try {
      answer = (await rl.question(`Delete these ${plan.delete.length} generation(s)? [y/N] `)).trim().toLowerCase();
    } finally {
      rl.close();
    }
    if (answer !== 'y' && answer !== 'yes') {
      err.write('nothing was deleted\n');
      return 1;
    }
  }
  return { ...params, generations: plan.delete.map((g) => g.generation) };
}
