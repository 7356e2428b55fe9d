// self-update: pull the nixcfg checkout, update the flake input that pins the agent, then
// the force-rebuild path. dryRun prints the commands it would run and runs none. The
// result carries agentVersionBefore; the runtime compares it after the restart (verify).
import path from 'node:path';
import { simpleGit } from 'simple-git';
import { formatArgv, opParams, opResults, type OpResult } from '../../protocol';
import { givenFlags } from './cliFlags';
import { firstLine } from '../git/status';
import { pullCheckout } from '../git/sync';
import { checkAndRecord, deployConfiguration, gitContext } from '../nix/deploy';
import { readLockedInputs } from '../nix/flakeLock';
import { activationCommands, systemAttr } from '../nix/platform';
import { rebuildToolArgv } from '../nix/rebuildTool';
import { flakeRef } from '../nix/system';
import { requireReadableState, requireSwitchMethod } from './common';
import { forceRebuildOptions } from './forceRebuild';
import type { OpContext, OpDefinition } from './types';
import { OpError } from './types';

/** The locked revision (or narHash) of the agent's input; an error when flake.lock lacks it. */
function requireAgentInput(ctx: OpContext, input: string): string | undefined {
  const file = path.join(ctx.config.flake, 'flake.lock');
  let inputs;
  try {
    inputs = readLockedInputs(ctx.config.flake);
  } catch (err) {
    throw new OpError(`host ${ctx.config.host}: ${(err as Error).message}`);
  }
  if (!inputs) throw new OpError(`host ${ctx.config.host}: cannot read ${file} (ENOENT); self-update needs a flake.lock pinning the agent input "${ctx.config.agentInput}"`);
  const found = inputs.find((i) => i.name === input);
  if (!found || found.follows) {
    throw new OpError(
      `host ${ctx.config.host}: the flake in ${ctx.config.flake} has no input "${input}" in flake.lock; set agentInput in the agent config to the input that pins nixfleet`,
    );
  }
  return found.locked;
}

function plannedCommands(ctx: OpContext, input: string): string[][] {
  const { config } = ctx;
  const nixOptions = forceRebuildOptions(false);
  const build =
    config.switchMethod === 'direct'
      ? [
          ['nix', 'build', '--json', '--no-link', ...nixOptions, '--print-build-logs', `${flakeRef(config.flake)}#${systemAttr(config.platform, config.host)}`],
          ['nix-env', '-p', config.profile, '--set', '<built store path>'],
          ...activationCommands(config.platform, '<built store path>').map((c) => c.argv),
        ]
      : [rebuildToolArgv(config.switchMethod, config.platform, flakeRef(config.flake), config.host, nixOptions)];
  return [
    ['git', 'fetch', '--prune', 'origin'],
    ['git', 'merge', '--ff-only', '@{upstream}'],
    ctx.nix.flakeUpdateInput(input),
    ['git', 'commit', '-m', `self-update: update flake input ${input}`, '--', 'flake.lock'],
    ...build,
    ...config.healthChecks,
  ];
}

export const selfUpdateOp: OpDefinition<'self-update'> = {
  kind: 'self-update',
  effects: ['evaluates', 'builds', 'changes-host'],
  detached: true,
  // It updates the agent itself: the service restarts into the new version.
  restartsAgent: true,
  params: opParams['self-update'],
  result: opResults['self-update'],
  cli: {
    summary: "pull the checkout, update the agent's flake input and force-rebuild",
    flags: {
      'force-rebuild': { type: 'boolean', help: 'rebuild after updating (always done; accepted for clarity)' },
      'dry-run': { type: 'boolean', help: 'show what would change without switching' },
      verify: { type: 'boolean', help: 'fail unless the running agent version changed' },
      input: { type: 'string', value: 'NAME', help: "the agent's flake input (default: config agentInput)" },
    },
    toParams: (f) => givenFlags({ dryRun: f['dry-run'] === true ? true : undefined, verify: f.verify === true ? true : undefined, input: f.input }),
  },
  async validate(ctx, params) {
    requireSwitchMethod(ctx);
    requireReadableState(ctx);
    requireAgentInput(ctx, params.input ?? ctx.config.agentInput);
  },
  async run(ctx, params) {
    const input = params.input ?? ctx.config.agentInput;
    const base: OpResult = { agentVersionBefore: ctx.agentVersion, input, verify: params.verify === true };
    if (params.dryRun) {
      ctx.log('info', `host ${ctx.config.host}: self-update dry run: these commands would run (none is run):`);
      for (const argv of plannedCommands(ctx, input)) ctx.log('stdout', formatArgv(argv));
      return { ...base, dryRun: true, message: `host ${ctx.config.host}: self-update dry run; nothing was changed` };
    }
    const pulled = await pullCheckout(gitContext(ctx), ctx.config.flake);
    const lockedBefore = requireAgentInput(ctx, input);
    try {
      await ctx.run(ctx.nix.flakeUpdateInput(input), { cwd: ctx.config.flake });
    } catch (err) {
      throw new OpError(`host ${ctx.config.host}: updating flake input "${input}" failed (${firstLine(err)}); check that the input's source is reachable, then retry`);
    }
    const lockedAfter = requireAgentInput(ctx, input);
    let lockCommit: string | undefined;
    if (lockedAfter !== lockedBefore) {
      // Commit the new pin so the generation's revision names what was built.
      const git = simpleGit({ baseDir: ctx.config.flake });
      ctx.log('info', `git commit flake.lock (input ${input}: ${lockedBefore ?? '?'} -> ${lockedAfter ?? '?'})`);
      try {
        await git.raw(['commit', '--quiet', '-m', `self-update: update flake input ${input}`, '--', 'flake.lock']);
        lockCommit = (await git.revparse(['HEAD'])).trim();
      } catch (err) {
        throw new OpError(`host ${ctx.config.host}: committing the updated flake.lock failed (${firstLine(err)}); set git user.name/user.email for the agent's user, then retry`);
      }
    } else {
      ctx.log('info', `flake input ${input} is already at its newest version (${lockedAfter ?? 'unknown'})`);
    }
    const result = await deployConfiguration(ctx, { nixOptions: forceRebuildOptions(false) });
    return {
      ...base,
      ...result,
      pulledFrom: pulled.before,
      inputBefore: lockedBefore,
      inputAfter: lockedAfter,
      ...(lockCommit ? { lockCommit } : {}),
    };
  },
  async postCheck(ctx, result) {
    if (result.dryRun) return result;
    return checkAndRecord(ctx, result);
  },
  endCheck(info, host) {
    const r = info.result ?? {};
    if (info.params.verify !== true || info.state !== 'succeeded' || r.agentVersionBefore !== r.agentVersionAfter) return info;
    return {
      ...info,
      state: 'failed',
      exit: 1,
      error: `self-update --verify: host ${host} still runs agent ${r.agentVersionAfter} after the update; check that the agent's flake input moved and that the service restarted`,
    };
  },
};
