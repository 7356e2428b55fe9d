// Rollback of one host to one of its generations, shared by "Rollback" (palette or host: a
// picker first) and "Rollback to This Generation" (straight to the confirmation): the
// confirmation names TO (FROM in its detail), then the op with progress, then "Rolled back
// <host> to generation N" ("Switched" for a newer one). (Undoing a deploy on every host it switched is deployUndo.ts.)
import { generationNumber, type Generation, type OpInfo } from '../../protocol';
import { CancelledByUser } from '../editor/editor';
import { defaultRollbackTarget, describeGeneration, marks, planRollback, rollbackTargets } from '../fleet/generations';
import type { FlowContext } from './context';
import { runOpWithProgress } from './opProgress';

export async function pickRollbackTarget(c: Pick<FlowContext, 'editor'>, host: string, gens: readonly Generation[]): Promise<number> {
  const targets = rollbackTargets(gens);
  if (!targets.length) throw new Error(`host ${host} has no other generation to roll back to`);
  const preselect = defaultRollbackTarget(gens);
  const current = gens.find((g) => g.current);
  // The current generation is named in the title, not offered: it cannot be a target.
  const items = targets.map((g) => ({
    label: `${g.lastKnownWorking ? '$(verified-filled)' : '$(history)'} Generation ${g.generation}`,
    description: describeGeneration(g),
    detail: marks(g).length ? marks(g).join(', ') : undefined,
    generation: g.generation,
  }));
  const picked = await c.editor.showQuickPick(items, {
    title: `NixFleet: Rollback ${host}${current ? ` (now on generation ${current.generation})` : ''}`,
    placeHolder: 'Generation to roll back to',
    matchOnDescription: true,
    active: items.find((i) => i.generation === preselect?.generation),
  });
  if (!picked) throw new CancelledByUser();
  return picked.generation;
}

/**
 * Roll `host` back to `target` (asked for when undefined). `confirm: true` skips the modal
 * (and confirms an old target); returns the final op, or undefined when the user declined.
 * To a generation newer than the current one, the words are "Switch … to generation N".
 */
export async function rollbackFlow(c: FlowContext, host: string, target: number | undefined, confirm: boolean): Promise<OpInfo | undefined> {
  const gens = await (await c.fleet.session(host)).generations();
  const to = target ?? (await pickRollbackTarget(c, host, gens));
  generationNumber.parse(to);
  const plan = planRollback(host, gens, to);
  const verb = plan.newer ? 'Switch' : 'Roll Back';
  if (!confirm) {
    const ok = await c.editor.confirm({
      message: plan.question,
      detail: plan.detail,
      action: plan.old ? `${verb} Anyway` : verb,
      keep: plan.from ? `Keep Generation ${plan.from.generation}` : 'Keep the Current System',
    });
    if (!ok) return undefined;
  }
  const op = await runOpWithProgress(c, host, 'rollback', { to, ...(plan.old ? { confirmOld: true } : {}) }, `${plan.newer ? 'Switch' : 'Rollback'} to generation ${to}`, {
    magicRollback: c.settings.magicRollback,
    done: () => plan.done,
  });
  return op;
}
