// Phases 4 and 5: update the nix-secrets input (whenever the flake has one) and, with
// --update, every input; each commits flake.lock on its own with a message saying what
// moved, so a bad update can be reverted alone.
import { remoteToolEnv } from '../../git/env';
import { lockChanges, readLockedInputs } from '../../nix/flakeLock';
import type { PhaseOutcome, RunState } from '../types';

export const SECRETS_INPUT = 'nix-secrets';

export function secretsSkip(run: RunState): string | undefined {
  if (!(readLockedInputs(run.config.flake) ?? []).some((i) => i.name === SECRETS_INPUT)) return `flake.lock has no ${SECRETS_INPUT} input`;
  if (run.offline) return `offline: ${run.offlineReason}`;
  return undefined;
}

export function updateSkip(run: RunState): string | undefined {
  if (!run.flags.update) return 'not requested: use --update or updateBeforeRebuild';
  if (run.offline) {
    run.warnings.push('update: a flake update was asked for but the host is offline; rebuilt with the current flake.lock');
    return `offline: ${run.offlineReason}`;
  }
  return undefined;
}

export async function updateSecrets(run: RunState): Promise<PhaseOutcome> {
  return updateInputs(run, run.ctx.nix.flakeUpdateInput(SECRETS_INPUT), SECRETS_INPUT);
}

export async function updateAllInputs(run: RunState): Promise<PhaseOutcome> {
  return updateInputs(run, ['nix', 'flake', 'update'], 'all inputs');
}

async function updateInputs(run: RunState, argv: string[], what: string): Promise<PhaseOutcome> {
  const { steps, config } = run;
  const before = readLockedInputs(config.flake) ?? [];
  // Nix fetches git+ssh inputs (nix-secrets often is one) with git: no prompts there either.
  await steps.change(argv, { cwd: config.flake, timeoutMs: 600_000, env: await remoteToolEnv(config.flake) });
  if (steps.dryRun) {
    if (run.flags.autoCommit) await steps.gitChange(config.flake, ['add', '--', 'flake.lock']);
    if (run.flags.autoCommit) await steps.gitChange(config.flake, ['commit', '--message', `flake.lock: update ${what}`, '--', 'flake.lock']);
    return { detail: `would update ${what}` };
  }
  const changes = lockChanges(before, readLockedInputs(config.flake) ?? []);
  if (!changes.length) return { detail: `${what}: already up to date` };
  run.lockChanges.push(...changes);
  if (!run.flags.autoCommit) return { detail: `${changes.join(', ')} (flake.lock left uncommitted: autoCommit is off)` };
  const message = `flake.lock: update ${what}\n\nOn ${config.host} by rebuild-smart (op ${run.ctx.opId}):\n${changes.map((c) => `  ${c}`).join('\n')}\n`;
  // `add` first: a lock file nix just created is untracked and a path-limited commit would miss it.
  await steps.gitChange(config.flake, ['add', '--', 'flake.lock']);
  await steps.gitChange(config.flake, ['commit', '--message', message, '--', 'flake.lock']);
  const head = (await steps.git(config.flake).revparse(['HEAD'])).trim();
  run.commitsMade.push(head);
  return { detail: `${changes.join(', ')}; committed ${head.slice(0, 7)}` };
}
