// The Nix side of Rebuild Smart is the agent's own: the switch pipeline of the switch op
// (agent/nix/deploy.ts), its profile and activation steps, and the health checks.
import type { AgentConfig } from '../config';
import { runHealthChecks } from '../checks';
import { deployConfiguration } from '../nix/deploy';
import { activationCommands, systemAttr } from '../nix/platform';
import { currentGeneration, generationsOf, readProfile } from '../nix/profile';
import { rebuildToolArgv } from '../nix/rebuildTool';
import { activate, flakeRef, switchProfileGeneration } from '../nix/system';
import { OpError, type OpContext } from '../ops/types';
import { recordChecks } from '../state/metadata';
import type { GenerationRef, NixSide } from './types';

/** The same context with another switchMethod (nh when it is on PATH). */
function withSwitchMethod(ctx: OpContext, switchMethod: AgentConfig['switchMethod']): OpContext {
  if (ctx.config.switchMethod === switchMethod) return ctx;
  return Object.create(ctx, { config: { value: { ...ctx.config, switchMethod }, enumerable: true } }) as OpContext;
}

export const agentNixSide: NixSide = {
  async currentGeneration(profile) {
    const link = currentGeneration(profile);
    return link ? { generation: link.generation, path: link.target } : undefined;
  },

  async switchConfiguration(ctx, useNh) {
    const result = await deployConfiguration(withSwitchMethod(ctx, useNh ? 'nh' : ctx.config.switchMethod), {});
    const now = currentGeneration(ctx.config.profile);
    if (!now || result.generationAfter === undefined) {
      throw new OpError(`host ${ctx.config.host}: the switch left no generation in ${ctx.config.profile}; see the output above`);
    }
    return { generation: now.generation, path: now.target } satisfies GenerationRef;
  },

  async switchToGeneration(ctx, generation) {
    const link = readProfile(ctx.config.profile).links.find((l) => l.generation === generation);
    if (!link) {
      throw new OpError(`host ${ctx.config.host}: generation ${generation} no longer exists in ${ctx.config.profile} (garbage-collected?): pick another one with the rollback op`);
    }
    await switchProfileGeneration(ctx, generation);
    await activate(ctx, link);
  },

  async healthChecks(ctx) {
    const outcome = await runHealthChecks(ctx);
    const now = currentGeneration(ctx.config.profile);
    if (now) recordChecks(ctx.config.stateDir, now.generation, now.target, outcome, generationsOf(ctx.config.profile));
    return { passed: outcome.passed, detail: outcome.detail };
  },

  describeSwitch(config, useNh) {
    const method = useNh ? 'nh' : config.switchMethod;
    if (method !== 'direct') return [rebuildToolArgv(method, config.platform, flakeRef(config.flake), config.host)];
    const out = '<built store path>';
    return [
      ['nix', 'build', '--json', '--no-link', `${flakeRef(config.flake)}#${systemAttr(config.platform, config.host)}`],
      ['nix-env', '-p', config.profile, '--set', out],
      ...activationCommands(config.platform, out).map((c) => c.argv),
    ];
  },
};
