// The Nix steps of a switch, each one named as deploy-rs names its phases: build the
// host's system, set the profile, activate, and switch back when activation fails.
import { formatArgv, type OpResult } from '../../protocol';
import type { Command, OpContext } from '../ops/types';
import type { AgentConfig } from '../config';
import { OpError } from '../ops/types';
import { CommandError } from '../exec';
import { activationCommands, systemAttr } from './platform';
import { currentGeneration, readProfile, type ProfileLink } from './profile';
import { withProfileLock } from './profileLock';
import { NIX_JSON_LOG, NixLogDecoder } from './internalJson';
import { existsSync } from 'node:fs';
import { activationStep, profileChangeStarts, type GenerationRef } from '../state/activation';

/** opId (every op's context has it) keys the activation record that recovery reads. */
export type NixContext = Pick<OpContext, 'config' | 'log' | 'run'> & { opId?: string };

/** Record a step in the host's activation record (agent/state/activation.ts), when run by an op. */
function step(ctx: NixContext, phase: 'activating' | 'activated' | 'activation-failed', to?: GenerationRef): void {
  if (ctx.opId) activationStep(ctx.config.stateDir, ctx.opId, phase, to && { generation: to.generation, target: to.target });
}
function changeStarts(ctx: NixContext, to: { generation?: number; target: string }): void {
  const now = currentGeneration(ctx.config.profile);
  if (ctx.opId) profileChangeStarts(ctx.config.stateDir, ctx.opId, now && { generation: now.generation, target: now.target }, to);
}

/** Options that make a rebuild bypass cached "not in the binary cache" answers. */
export const FORCE_OPTIONS = ['--option', 'narinfo-cache-negative-ttl', '0'];
/** Options that forbid substitutes entirely: everything is built here. */
export const FROM_SOURCE_OPTIONS = ['--option', 'substitute', 'false'];

/**
 * The flake reference of a checkout. A plain path is clearest in logs; paths Nix would
 * misparse as URLs (e.g. containing "@") are spelled git+file://.
 */
export function flakeRef(checkout: string, rev?: string): string {
  if (rev === undefined && /^[A-Za-z0-9._/+-]+$/.test(checkout)) return checkout;
  const url = 'git+file://' + checkout.split('/').map(encodeURIComponent).join('/');
  return rev === undefined ? url : `${url}?rev=${rev}`;
}

/** The store path out of `nix build --json` (Nix 2.8 has no --print-out-paths). */
export function parseBuildJson(stdout: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new Error(`nix build --json printed something that is not JSON: "${stdout.slice(0, 120)}"`);
  }
  const first = Array.isArray(parsed) ? (parsed[0] as { outputs?: Record<string, unknown> } | undefined) : undefined;
  const out = first?.outputs?.out;
  if (typeof out !== 'string' || !out.startsWith('/')) {
    throw new Error(`nix build --json did not name an "out" store path: "${stdout.slice(0, 120)}"`);
  }
  return out;
}

/**
 * The line that says why a command failed (its last stderr line), kept in the op's result:
 * later output (a restore after a failed activation) must not hide it from the controller.
 */
export function failingLineOf(err: unknown): { failingLine?: string } {
  const line = err instanceof CommandError ? err.stderrTail.at(-1)?.trim() : undefined;
  return line ? { failingLine: line.slice(0, 2000) } : {};
}

/**
 * Result fields once the agent has tried to undo generation `tried` (restored the one
 * before): where the host is now, and `generationFailed` when that is no longer `tried`.
 */
export function afterUndo(profile: string, tried: ProfileLink): Pick<OpResult, 'generationAfter' | 'storePath' | 'generationFailed'> {
  const now = currentGeneration(profile);
  return now && now.generation !== tried.generation
    ? { generationAfter: now.generation, storePath: now.target, generationFailed: tried.generation }
    : { generationAfter: tried.generation, storePath: tried.target };
}

export function commandFailure(ctx: NixContext, what: string, err: unknown, advice: string): OpError {
  const reason = err instanceof CommandError ? err.message : (err as Error).message;
  return new OpError(`host ${ctx.config.host}: ${what} failed (${reason}); ${advice}`, failingLineOf(err));
}

/**
 * The nix build of the host's system attribute, as buildSystem runs it; an op whose first
 * command it is names it as its firstCommand (ops/types.ts) with the same arguments.
 */
export function systemBuildCommand(config: Pick<AgentConfig, 'flake' | 'platform' | 'host'>, opts: { nixOptions?: string[]; ref?: string } = {}): Command {
  const installable = `${opts.ref ?? flakeRef(config.flake)}#${systemAttr(config.platform, config.host)}`;
  // Build logs go to the op's journal (stderr), so a failed or slow build can be followed;
  // Nix's machine-readable log also gives the derivations built / to build on the way.
  // --print-build-logs sets a log format of its own: --log-format must come after it.
  return {
    argv: ['nix', 'build', '--json', '--no-link', ...(opts.nixOptions ?? []), '--print-build-logs', ...NIX_JSON_LOG, installable],
    opts: { capture: true, quietStdout: true, decodeStderr: new NixLogDecoder().decode },
  };
}

/** nix build of the host's system attribute; returns its store path. */
export async function buildSystem(ctx: NixContext, opts: { nixOptions?: string[]; ref?: string; signal?: AbortSignal } = {}): Promise<string> {
  const { argv, opts: runOpts } = systemBuildCommand(ctx.config, opts);
  const installable = argv[argv.length - 1]!;
  try {
    const r = await ctx.run(argv, { ...runOpts, ...(opts.signal ? { signal: opts.signal } : {}) });
    const out = parseBuildJson(r.stdout);
    ctx.log('info', `built ${out}`);
    return out;
  } catch (err) {
    if (err instanceof OpError) throw err;
    throw commandFailure(ctx, `building ${installable}`, err, 'fix the configuration (see the build log above) and retry');
  }
}

/** Make `storePath` the profile's newest generation (nix-env --set); returns that generation. */
export async function setProfile(ctx: NixContext, storePath: string): Promise<ProfileLink> {
  changeStarts(ctx, { target: storePath });
  try {
    await withProfileLock(ctx.config.profile, ctx.config.host, () => ctx.run(['nix-env', '-p', ctx.config.profile, '--set', storePath]));
  } catch (err) {
    if (err instanceof OpError) throw err;
    throw commandFailure(ctx, `setting the profile ${ctx.config.profile}`, err, 'check that the agent may write the profile, then retry');
  }
  const now = currentGeneration(ctx.config.profile);
  if (!now || now.target !== storePath) {
    throw new OpError(`host ${ctx.config.host}: after nix-env --set the profile ${ctx.config.profile} does not point at ${storePath}; another process may be changing it: retry`);
  }
  // No record of its own: until activation starts, the profile says whether it was set
  // (runner/recovery.ts reads it for "profile-changing"), and "activating" names the generation.
  return now;
}

/** Point the profile at existing generation N (nix-env --switch-generation). */
export async function switchProfileGeneration(ctx: NixContext, generation: number): Promise<void> {
  const to = readProfile(ctx.config.profile).links.find((l) => l.generation === generation);
  if (to) changeStarts(ctx, { generation, target: to.target });
  try {
    await withProfileLock(ctx.config.profile, ctx.config.host, () =>
      ctx.run(['nix-env', '-p', ctx.config.profile, '--switch-generation', String(generation)]),
    );
  } catch (err) {
    if (err instanceof OpError) throw err;
    throw commandFailure(ctx, `switching the profile ${ctx.config.profile} to generation ${generation}`, err, 'list the generations and pick one that exists');
  }
}

/** Run the activation script(s) of `to` (the profile's generation now). Throws CommandError on failure. */
export async function activate(ctx: NixContext, to: GenerationRef): Promise<void> {
  step(ctx, 'activating', to);
  try {
    for (const { argv, optional } of activationCommands(ctx.config.platform, to.target)) {
      if (optional && !existsSync(argv[0]!)) continue;
      ctx.log('info', `activating: ${formatArgv(argv)}`);
      await ctx.run(argv);
    }
  } catch (err) {
    step(ctx, 'activation-failed');
    throw err;
  }
  step(ctx, 'activated');
}

/**
 * Bring the host back to generation `to` after a failed activation or failed checks:
 * profile first, then activation, each step logged. Returns a sentence for the error.
 */
export async function restoreGeneration(ctx: NixContext, to: ProfileLink): Promise<string> {
  ctx.log('info', `restoring generation ${to.generation} (${to.target})`);
  try {
    await switchProfileGeneration(ctx, to.generation);
  } catch (err) {
    ctx.log('stderr', (err as Error).message);
    return `switching the profile back to generation ${to.generation} failed too: switch it by hand (${formatArgv(['nix-env', '-p', ctx.config.profile, '--switch-generation', String(to.generation)])})`;
  }
  try {
    await activate(ctx, to);
  } catch (err) {
    ctx.log('stderr', `re-activating generation ${to.generation} failed: ${(err as Error).message}`);
    return `the profile points at generation ${to.generation} again but its re-activation failed: activate it by hand (${formatArgv(activationCommands(ctx.config.platform, to.target).at(-1)!.argv)})`;
  }
  return `generation ${to.generation} was restored and re-activated`;
}

/**
 * Activate `target` (already the profile's current generation); on failure switch the
 * profile back to `before` and re-activate it, then fail with what happened.
 */
export async function activateOrRestore(ctx: NixContext, target: ProfileLink, before: ProfileLink | undefined): Promise<void> {
  try {
    await activate(ctx, target);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const restored =
      before && before.generation !== target.generation
        ? await restoreGeneration(ctx, before)
        : 'there was no earlier generation to go back to';
    throw new OpError(
      `host ${ctx.config.host}: activation of generation ${target.generation} failed (${reason}); ${restored}; fix the configuration and switch again`,
      { generationBefore: before?.generation, ...afterUndo(ctx.config.profile, target), ...failingLineOf(err) },
    );
  }
}

/** `nix store diff-closures A B` as lines without colour codes. */
export async function closureDiff(ctx: NixContext, from: string, to: string): Promise<string[]> {
  try {
    const r = await ctx.run(['nix', 'store', 'diff-closures', from, to], { capture: true, quietStdout: true });
    return r.stdout
      .split('\n')
      .map((l) => l.replace(/\x1b\[[0-9;]*m/g, '').trimEnd())
      .filter((l) => l.length > 0);
  } catch (err) {
    throw commandFailure(ctx, `comparing ${from} with ${to}`, err, 'check that both store paths exist');
  }
}
