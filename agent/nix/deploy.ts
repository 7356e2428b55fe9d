// The switch pipeline shared by switch, force-rebuild and self-update: bring the checkout
// to the wanted commit, build, set the profile, activate (or let the configured rebuild
// tool do those), record the revision. Health checks follow in the op's postCheck.
import type { OpResult } from '../../protocol';
import { bringToRev, checkoutRevision, restoreCheckout } from '../git/sync';
import type { OpContext } from '../ops/types';
import { OpError } from '../ops/types';
import { recordChecks, recordRevision } from '../state/metadata';
import { runHealthChecks } from '../checks';
import { CommandError } from '../exec';
import { currentGeneration, generationsOf, readProfile } from './profile';
import { withProfileLock } from './profileLock';
import { rebuildToolArgv } from './rebuildTool';
import { activateOrRestore, afterUndo, buildSystem, failingLineOf, flakeRef, restoreGeneration, setProfile } from './system';

export interface DeployOptions {
  rev?: string;
  nixOptions?: string[];
}

export function gitContext(ctx: Pick<OpContext, 'config' | 'log' | 'signal'>) {
  return { host: ctx.config.host, log: ctx.log.bind(ctx), signal: ctx.signal };
}

export async function deployConfiguration(ctx: OpContext, opts: DeployOptions): Promise<OpResult> {
  const { config } = ctx;
  const before = currentGeneration(config.profile);
  ctx.log('info', `host ${config.host}: current generation ${before ? `${before.generation} (${before.target})` : 'none'}`);
  const moved = opts.rev !== undefined ? await bringToRev(gitContext(ctx), config.flake, opts.rev) : undefined;
  try {
    return await deployCheckedOut(ctx, opts, before);
  } catch (err) {
    // The host runs what it ran before (nothing activated, or restored): so does the checkout.
    if (!moved?.changed || !(err instanceof OpError) || currentGeneration(config.profile)?.target !== before?.target) throw err;
    const undone = await restoreCheckout(gitContext(ctx), config.flake, moved);
    throw new OpError(`${err.message.replace(/\.$/, '')}; ${undone}`, err.result);
  }
}

/** The checkout's revision as recorded for what it builds: HEAD, with `-dirty` for tracked changes. */
async function headRevision(ctx: OpContext): Promise<string> {
  const head = await checkoutRevision(gitContext(ctx), ctx.config.flake);
  const revision = head.dirty ? `${head.revision}-dirty` : head.revision;
  if (head.dirty) ctx.log('info', `the checkout has uncommitted changes: recording revision ${revision}`);
  return revision;
}

/**
 * Build the checkout as it is, reading its revision beside the build: a build changes
 * nothing on the host, so the two need not wait for each other (git's status would
 * otherwise sit on the switch's path). When git fails, the build is stopped and git's
 * error is the op's: nothing was changed.
 */
export async function buildCheckout(ctx: OpContext, opts: { nixOptions?: string[] } = {}): Promise<{ storePath: string; revision: string }> {
  const stop = new AbortController();
  const build = buildSystem(ctx, { nixOptions: opts.nixOptions, signal: AbortSignal.any([ctx.signal, stop.signal]) });
  build.catch(() => {}); // awaited below, after git's answer
  let revision: string;
  try {
    // The build's command is spawned a few microtasks from now (ctx.run): git's client and
    // process start after it, not before (they held the build back by ~0.6 ms).
    await new Promise((resolve) => setImmediate(resolve));
    revision = await headRevision(ctx);
  } catch (err) {
    stop.abort();
    await build.catch(() => {});
    throw err;
  }
  return { storePath: await build, revision };
}

async function deployCheckedOut(ctx: OpContext, opts: DeployOptions, before: ReturnType<typeof currentGeneration>): Promise<OpResult> {
  const { config } = ctx;
  let after;
  let revision: string;
  if (config.switchMethod === 'direct') {
    let storePath: string;
    ({ storePath, revision } = await buildCheckout(ctx, { nixOptions: opts.nixOptions }));
    const setting = setProfile(ctx, storePath); // nix-env runs from here
    // Recorded while nix-env runs, and before activation: the build is from this revision
    // whatever follows (revisions are kept whatever the profile says: state/metadata.ts).
    // A record that fails fails the op once nix-env is done, not while it runs.
    let unrecorded: unknown;
    try {
      recordRevision(config.stateDir, storePath, revision, generationsOf(config.profile));
    } catch (err) {
      unrecorded = err;
    }
    after = await setting;
    if (unrecorded !== undefined) throw unrecorded;
    ctx.log('info', `profile ${config.profile} is now generation ${after.generation}`);
    await activateOrRestore(ctx, after, before);
  } else {
    // The rebuild tool also activates: the revision is known before anything changes.
    revision = await headRevision(ctx);
    const argv = rebuildToolArgv(config.switchMethod, config.platform, flakeRef(config.flake), config.host, opts.nixOptions);
    try {
      await withProfileLock(config.profile, config.host, () => ctx.run(argv));
    } catch (err) {
      if (err instanceof OpError) throw err;
      const now = currentGeneration(config.profile);
      const changed = now && now.generation !== before?.generation;
      const restored = changed && before ? '; ' + (await restoreGeneration(ctx, before)) : '';
      const reason = err instanceof CommandError ? err.message : (err as Error).message;
      throw new OpError(`host ${config.host}: ${argv[0]} failed (${reason})${restored}; fix the configuration and switch again`, {
        generationBefore: before?.generation,
        ...(changed ? afterUndo(config.profile, now) : {}),
        ...failingLineOf(err),
      });
    }
    after = currentGeneration(config.profile);
    if (!after) {
      throw new OpError(`host ${config.host}: ${argv[0]} succeeded but the profile ${config.profile} has no generation; set "profile" in the agent config to the profile ${argv[0]} switches`);
    }
    recordRevision(config.stateDir, after.target, revision, generationsOf(config.profile));
  }
  return {
    generationBefore: before?.generation,
    generationAfter: after.generation,
    storePath: after.target,
    revision,
    message:
      before?.generation === after.generation
        ? `host ${config.host}: generation ${after.generation} was already current; re-activated it`
        : `host ${config.host}: switched from generation ${before?.generation ?? 'none'} to ${after.generation}`,
  };
}

/**
 * Post-check of every op that activates something: run the health checks, record them
 * for the generation now current, and (if configured) go back when they fail.
 */
export async function checkAndRecord(ctx: OpContext, result: OpResult): Promise<OpResult> {
  const current = currentGeneration(ctx.config.profile);
  if (!current) throw new OpError(`host ${ctx.config.host}: the profile ${ctx.config.profile} has no generation to check; switch first`);
  const outcome = await runHealthChecks(ctx);
  recordChecks(ctx.config.stateDir, current.generation, current.target, outcome, generationsOf(ctx.config.profile));
  const checked: OpResult = { ...result, checks: outcome.passed ? 'passed' : 'failed' };
  if (outcome.passed) return checked;
  let restored = '';
  const before = result.generationBefore;
  if (ctx.config.rollbackOnCheckFailure && before !== undefined && before !== current.generation) {
    const link = readProfile(ctx.config.profile).links.find((l) => l.generation === before);
    restored = link ? `; rollbackOnCheckFailure: ${await restoreGeneration(ctx, link)}` : `; generation ${before} no longer exists, so it was not restored`;
    // The result says where the host ended up, as magic rollback's does.
    Object.assign(checked, afterUndo(ctx.config.profile, current));
  }
  throw new OpError(
    `host ${ctx.config.host}: health checks failed on generation ${current.generation} (${outcome.detail ?? 'no detail'})${restored}; fix the cause or roll back`,
    checked,
  );
}
