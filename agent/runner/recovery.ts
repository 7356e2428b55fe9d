// After a worker died without recording its end: put the host's record right from the
// activation record (agent/state/activation.ts). The one case the agent repairs by
// itself is a profile that was set but never activated: the host still runs the
// generation from before, so the profile is switched back to it. That is what a careful
// operator expects (and what deploy-rs does when an activation does not happen): the
// profile is what `status`, `generations`, the next rollback and the boot menu read, and
// it must name what runs. The generation that never ran stays in the list, so switching
// to it again is one command. Every other case (killed mid-activation, or while putting
// back a generation after a failed activation) cannot be decided from here: it is
// recorded as is, with what to check and run.
import { existsSync, renameSync, rmSync } from 'node:fs';
import { formatArgv, type OpResult } from '../../protocol';
import type { AgentConfig } from '../config';
import { runCommand } from '../exec';
import { currentGeneration, readProfile } from '../nix/profile';
import { withProfileLock } from '../nix/profileLock';
import { activationCommands } from '../nix/platform';
import { activationFile, readActivation, type ActivationRecord } from '../state/activation';

export interface Recovery {
  /** One sentence for the op's error and journal: what the agent found and did. */
  sentence: string;
  /** Lines for the journal before the sentence (the commands run and their output). */
  lines: string[];
  result: Pick<OpResult, 'generationBefore' | 'generationAfter' | 'storePath' | 'generationFailed'>;
}

const g = (ref: { generation?: number; target: string } | undefined) => (ref?.generation !== undefined ? `generation ${ref.generation}` : ref ? ref.target : 'no generation');

/**
 * Read and claim op `opId`'s activation record (a rename, so of two processes noticing the
 * same dead worker only one acts), then repair or describe. Undefined when the op left no
 * record (it never touched the profile); 'elsewhere' when another process is at it.
 */
export async function recoverActivation(config: AgentConfig, opId: string): Promise<Recovery | 'elsewhere' | undefined> {
  const claimed = `${activationFile(config.stateDir)}.recovered-${opId}`;
  const rec = readActivation(config.stateDir);
  if (!rec || rec.op !== opId) return existsSync(claimed) ? 'elsewhere' : undefined;
  try {
    renameSync(activationFile(config.stateDir), claimed);
  } catch {
    return 'elsewhere'; // another process claimed it: it records the op's end
  }
  try {
    return await describe(config, rec);
  } finally {
    rmSync(claimed, { force: true });
  }
}

async function describe(config: AgentConfig, rec: ActivationRecord): Promise<Recovery> {
  const { host, profile } = config;
  const now = currentGeneration(profile);
  const nowRef = now && { generation: now.generation, target: now.target };
  const activateCmd = (target: string) => formatArgv(activationCommands(config.platform, target).at(-1)!.argv);
  if (rec.restoring) {
    return {
      sentence: `the worker was killed while putting back ${g(rec.runs)} after ${g(rec.restoring)} failed to activate; the profile points at ${g(nowRef)}, which may not be what runs: activate ${g(rec.to)} by hand (${activateCmd(rec.to.target)}) or switch again`,
      lines: [],
      result: { generationAfter: now?.generation, generationFailed: rec.restoring.generation },
    };
  }
  switch (rec.phase) {
    case 'activating':
      return {
        sentence: `the worker was killed while activating ${g(rec.to)}, so host ${host} may run it only in part; check the host, then switch again or roll back to ${g(rec.runs)}`,
        lines: [],
        result: { generationBefore: rec.runs?.generation },
      };
    case 'activated':
      return {
        sentence: `${g(rec.to)} was activated before the worker was killed, so host ${host} runs it, but its health checks did not run: run the test op`,
        lines: [],
        result: { generationAfter: rec.to.generation, storePath: rec.to.target },
      };
    case 'activation-failed':
      return {
        sentence: `activation of ${g(rec.to)} failed and the worker was killed before it put back ${g(rec.runs)}; the profile points at ${g(nowRef)}: roll back to ${g(rec.runs)}`,
        lines: [],
        result: { generationBefore: rec.runs?.generation, generationAfter: now?.generation, generationFailed: rec.to.generation },
      };
    case 'profile-changing':
    case 'profile-set':
      break;
  }
  const runs = rec.runs;
  if (now && runs && now.target === runs.target && (runs.generation === undefined || now.generation === runs.generation)) {
    return {
      sentence: `the worker was killed before the profile changed; host ${host} runs ${g(runs)}, as the profile says`,
      lines: [],
      result: { generationBefore: runs.generation, generationAfter: runs.generation, storePath: runs.target },
    };
  }
  const setTo = nowRef ?? rec.to;
  const back = runs?.generation !== undefined ? readProfile(profile).links.find((l) => l.generation === runs.generation && l.target === runs.target) : undefined;
  if (!runs || !back) {
    const why = !runs ? 'there is no earlier generation to go back to' : `${g(runs)} is no longer in the profile`;
    return {
      sentence: `the worker was killed after the profile was set to ${g(setTo)} and before it was activated, and ${why}: host ${host} does not run what the profile says; activate it by hand (${activateCmd(setTo.target)}) or switch again`,
      lines: [],
      result: { generationBefore: runs?.generation },
    };
  }
  const lines: string[] = [];
  const argv = ['nix-env', '-p', profile, '--switch-generation', String(back.generation)];
  try {
    lines.push(`$ ${formatArgv(argv)}`);
    await withProfileLock(profile, host, () => runCommand(argv, (_s, t) => lines.push(t), { timeoutMs: 120_000 }));
  } catch (err) {
    lines.push((err as Error).message);
    return {
      sentence: `the worker was killed after the profile was set to ${g(setTo)} and before it was activated; host ${host} still runs ${g(runs)}, but switching the profile back failed: run ${formatArgv(argv)}`,
      lines,
      result: { generationBefore: runs.generation },
    };
  }
  const after = currentGeneration(profile);
  return {
    sentence:
      `the worker was killed after the profile was set to ${g(setTo)} and before it was activated; host ${host} still runs ${g(runs)}, ` +
      `so the agent switched the profile back to it (${g(setTo)} stays in the list, never activated: switch again to activate it)`,
    lines,
    result: { generationBefore: runs.generation, generationAfter: after?.generation, storePath: after?.target },
  };
}
