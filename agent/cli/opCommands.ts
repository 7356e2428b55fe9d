// CLI commands that run an op, table-driven: each entry maps its flags to the op's
// params. Adding an op to the CLI means adding one entry here.
import { parseGeneration, rebuildSmartConflict, type OpInfo, type OpKind } from '../../protocol';
import { rollbackPrompt } from '../rebuildSmart/cliPrompt';

export interface FlagSpec {
  type: 'boolean' | 'string';
  help: string;
  /** Placeholder shown in help for string flags. */
  value?: string;
}

export interface OpCommand {
  kind: OpKind;
  summary: string;
  flags: Record<string, FlagSpec>;
  /** Map parsed flags to the op's params; throws Error with a clear sentence on bad input. */
  toParams(flags: Record<string, string | boolean | undefined>): Record<string, unknown>;
  /**
   * Runs when the op did not succeed (not with --json): may start a follow-up op of the same
   * kind through `followUp` (e.g. rebuild-smart's interactive rollback prompt).
   */
  onFailure?(final: OpInfo, followUp: (params: Record<string, unknown>) => Promise<OpInfo>): Promise<OpInfo | undefined>;
}

const rev: FlagSpec = { type: 'string', value: 'COMMIT', help: 'build this commit of the checkout instead of its HEAD' };

/** Keep only the flags that were given, so an op's params hold what the user asked for. */
function given(map: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(map).filter(([, v]) => v !== undefined && v !== false));
}

export const opCommands: Record<string, OpCommand> = {
  switch: {
    kind: 'switch',
    summary: 'build the host configuration, set the profile, activate it and run the health checks',
    flags: { rev },
    toParams: (f) => given({ rev: f.rev }),
  },
  'force-rebuild': {
    kind: 'force-rebuild',
    summary: 'switch, ignoring cached negative lookups (--from-source: no substitutes); survives an agent restart',
    flags: { 'from-source': { type: 'boolean', help: 'build everything locally (substitute = false)' }, rev },
    toParams: (f) => given({ fromSource: f['from-source'] === true ? true : undefined, rev: f.rev }),
  },
  rollback: {
    kind: 'rollback',
    summary: 'activate the previous generation, or generation N',
    flags: {
      to: { type: 'string', value: 'N', help: 'generation number to roll back to' },
      yes: { type: 'boolean', help: 'confirm a target older than 30 days' },
    },
    toParams: (f) => given({ to: typeof f.to === 'string' ? parseGeneration(f.to) : undefined, confirmOld: f.yes === true ? true : undefined }),
  },
  test: {
    kind: 'test',
    summary: 'run the health checks and record the result for the current generation',
    flags: {},
    toParams: () => ({}),
  },
  pull: {
    kind: 'pull',
    summary: 'update the nixcfg checkout from its upstream (or --ref), or bring it to --rev',
    flags: { ref: { type: 'string', value: 'REF', help: 'branch or tag to fast-forward to' }, rev: { ...rev, help: 'commit to bring the checkout to' } },
    toParams: (f) => given({ ref: f.ref, rev: f.rev }),
  },
  build: {
    kind: 'build',
    summary: 'build the configuration without activating it and show the closure diff',
    flags: { rev },
    toParams: (f) => given({ rev: f.rev }),
  },
  'self-update': {
    kind: 'self-update',
    summary: "pull the checkout, update the agent's flake input and force-rebuild",
    flags: {
      'force-rebuild': { type: 'boolean', help: 'rebuild after updating (always done; accepted for clarity)' },
      'dry-run': { type: 'boolean', help: 'show what would change without switching' },
      verify: { type: 'boolean', help: 'fail unless the running agent version changed' },
      input: { type: 'string', value: 'NAME', help: "the agent's flake input (default: config agentInput)" },
    },
    toParams: (f) => given({ dryRun: f['dry-run'] === true ? true : undefined, verify: f.verify === true ? true : undefined, input: f.input }),
  },
  'rebuild-smart': {
    kind: 'rebuild-smart',
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
      const params = given({
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
};
