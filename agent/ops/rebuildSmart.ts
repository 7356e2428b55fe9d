// rebuild-smart: pull, dotfiles, secrets, (update), rebuild, checks, commit & push as one
// op with a live phase list; or, with `rollback`, back to what the last run started from.
// The phases live in agent/rebuildSmart/.
import { opParams, opResults, rebuildSmartConflict } from '../../protocol';
import { rollbackPrompt } from '../rebuildSmart/cliPrompt';
import { givenFlags } from './cliFlags';
import { runRebuildSmart } from '../rebuildSmart';
import { requireReadableState, requireSwitchMethod } from './common';
import type { OpDefinition } from './types';

export const rebuildSmartOp: OpDefinition<'rebuild-smart'> = {
  kind: 'rebuild-smart',
  effects: ['evaluates', 'builds', 'changes-host'],
  // It activates a new system, which may restart the agent: the op must outlive it.
  detached: true,
  restartsAgent: false,
  params: opParams['rebuild-smart'],
  result: opResults['rebuild-smart'],
  cli: {
    summary: 'pull nixcfg, sync dotfiles, update secrets (--update: all inputs), rebuild, check, commit and push (docs/rebuild-smart.md)',
    flags: {
      'skip-upstream': { type: 'boolean', help: 'do not fetch and rebase onto upstream' },
      'skip-dotfiles': { type: 'boolean', help: 'do not run chezmoi re-add and sync' },
      'skip-update': { type: 'boolean', help: 'no flake input update, even with updateBeforeRebuild' },
      update: { type: 'boolean', help: 'update all flake inputs and commit flake.lock' },
      'dry-run': { type: 'boolean', help: 'print every command it would run, run none' },
      offline: { type: 'boolean', help: 'skip network phases (also automatic when the remote is unreachable)' },
      'rollback-on-failure': { type: 'boolean', help: 'on a failed rebuild or check, restore the recorded commit and generation' },
      rollback: { type: 'boolean', help: 'restore the commit and generation recorded by the last run, nothing else' },
    },
    toParams: (f) => {
      const params = givenFlags({
        skipUpstream: f['skip-upstream'],
        skipDotfiles: f['skip-dotfiles'],
        skipUpdate: f['skip-update'],
        update: f.update,
        dryRun: f['dry-run'],
        offline: f.offline,
        rollbackOnFailure: f['rollback-on-failure'],
        rollback: f.rollback,
      });
      const conflict = rebuildSmartConflict(params);
      if (conflict === 'update-and-skip-update') throw new Error('--update and --skip-update contradict each other: give one');
      if (conflict === 'rollback-with-phase-flags') throw new Error('--rollback takes no phase flags (only --dry-run)');
      return params;
    },
    onFailure: rollbackPrompt,
  },
  async validate(ctx) {
    requireSwitchMethod(ctx);
    requireReadableState(ctx);
  },
  // Checks run inside the op (its post-checks phase), so failures can roll back both the
  // commit and the generation and show up in the phase list.
  run: (ctx, params) => runRebuildSmart(ctx, params),
};
