// Rollback, shared by "Rollback" (palette/host: QuickPick first) and "Rollback to This
// Generation" (straight to the confirmation): confirmation naming FROM and TO, the op with
// progress, then "Rolled back <host> to generation N".
import * as vscode from 'vscode';
import { generationNumber, type Generation, type OpInfo } from '../../protocol';
import type { Container } from '../container';
import { defaultRollbackTarget, describeGeneration, marks, planRollback, rollbackTargets } from '../fleet/generations';
import { runOpWithProgress } from './opProgress';
import { CancelledByUser } from './pickHost';

async function freshGenerations(c: Container, host: string): Promise<Generation[]> {
  const session = await c.fleet.session(host);
  return session.generations();
}

export async function pickRollbackTarget(host: string, gens: Generation[]): Promise<number> {
  const targets = rollbackTargets(gens);
  if (!targets.length) throw new Error(`host ${host} has no other generation to roll back to`);
  const preselect = defaultRollbackTarget(gens);
  const current = gens.find((g) => g.current);
  type Item = vscode.QuickPickItem & { generation: number };
  const qp = vscode.window.createQuickPick<Item>();
  qp.title = `NixFleet: Rollback ${host}${current ? ` (now on generation ${current.generation})` : ''}`;
  qp.placeholder = 'Generation to roll back to';
  qp.matchOnDescription = true;
  // The current generation is named in the title, not offered: it cannot be a target.
  qp.items = targets.map((g) => ({
    label: `${g.lastKnownWorking ? '$(verified-filled)' : '$(history)'} Generation ${g.generation}`,
    description: describeGeneration(g),
    detail: marks(g).length ? marks(g).join(', ') : undefined,
    generation: g.generation,
  }));
  const pre = qp.items.find((i) => i.generation === preselect?.generation);
  if (pre) qp.activeItems = [pre];
  return new Promise<number>((resolve, reject) => {
    let done = false;
    qp.onDidAccept(() => {
      const item = qp.selectedItems[0] ?? qp.activeItems[0];
      if (!item) return;
      done = true;
      qp.hide();
      resolve(item.generation);
    });
    qp.onDidHide(() => {
      qp.dispose();
      if (!done) reject(new CancelledByUser());
    });
    qp.show();
  });
}

/**
 * Roll `host` back to `target` (asked for when undefined). `confirm: true` skips the modal
 * (and confirms an old target); returns the final op, or undefined when the user declined.
 */
export async function rollbackFlow(c: Container, host: string, target: number | undefined, confirm: boolean): Promise<OpInfo | undefined> {
  const gens = await freshGenerations(c, host);
  const to = target ?? (await pickRollbackTarget(host, gens));
  generationNumber.parse(to);
  const plan = planRollback(host, gens, to);
  if (!confirm) {
    const action = plan.old ? 'Roll Back Anyway' : 'Roll Back';
    const choice = await vscode.window.showWarningMessage(
      `Roll back ${host} from ${plan.from ? `generation ${plan.from.generation}` : 'its current system'} to generation ${to}?`,
      { modal: true, detail: plan.detail },
      action,
    );
    if (choice !== action) return undefined;
  }
  const op = await runOpWithProgress(c, host, 'rollback', { to, ...(plan.old ? { confirmOld: true } : {}) }, `Rollback to generation ${to}`, {
    magicRollback: vscode.workspace.getConfiguration('nixfleet').get<boolean>('magicRollback', true),
  });
  if (op.state === 'succeeded') void vscode.window.showInformationMessage(`Rolled back ${host} to generation ${to}`);
  return op;
}
