// Rebuild Smart is an agent op (agent/rebuildSmart). From the UI, a run that would commit or
// push from the host's checkout is planned first: the agent's dry run says which phases run
// and what would be committed and pushed, and the user confirms (nixfleet.rebuildSmart.confirm
// turns that off). The run's phases are the progress notification's messages. After a failure
// it offers the rollback the agent recorded (Roll Back) and the log.
import { opResultOf, phaseStarted, type OpInfo, type OpParams } from '../../protocol';
import { CancelledByUser } from '../editor/editor';
import { rebuildSmartParams } from '../fleet/rebuildSmartParams';
import { asArgs, isProgrammatic } from './args';
import type { FlowContext } from './context';
import { openLogsOnFailure, runOpWithProgress, SHOW_LOGS, type OpFlowContext } from './opProgress';
import { resolveHost } from './pickHost';

type Params = OpParams<'rebuild-smart'>;
interface PlannedPhase {
  name: string;
  title: string;
  status: string;
  detail?: string;
}

export async function rebuildSmartFlow(c: FlowContext, arg: unknown): Promise<OpInfo> {
  const args = asArgs(arg);
  const host = await resolveHost(c, arg, { title: 'Rebuild Smart' });
  const params = rebuildSmartParams(c.settings.rebuildSmart, args);
  const title = params.rollback ? 'Rebuild Smart rollback' : params.dryRun ? 'Rebuild Smart (dry run)' : 'Rebuild Smart';
  const fromUi = !isProgrammatic(arg);
  let phases: PlannedPhase[] | undefined;
  if (fromUi && !params.rollback && !params.dryRun && (params.autoCommit || params.autoPush) && c.settings.confirmRebuildSmart) {
    phases = await confirmPlan(c, host.name, params);
  }
  const op = await runOpWithProgress(c, host.name, 'rebuild-smart', params, title, { quiet: true, describe: phaseProgress(phases) });
  if (op.state === 'succeeded') {
    const r = opResultOf('rebuild-smart', op.result);
    void c.editor
      .showInformationMessage(`${title} finished on ${host.name}${r?.generationAfter ? `: generation ${r.generationAfter}` : ''}${r?.message ? ` (${r.message})` : ''}`, SHOW_LOGS)
      .then((choice) => choice === SHOW_LOGS && c.logs.show(host.name, false));
    return op;
  }
  if (isProgrammatic(arg) || params.rollback || params.dryRun) return op;
  const rollBack = 'Roll Back';
  const choice = await c.editor.showErrorMessage(
    `${title} on ${host.name} ${op.state}: ${op.error ?? 'see the log'}`,
    ...(op.state === 'failed' ? [rollBack] : []),
    SHOW_LOGS,
  );
  if (choice === SHOW_LOGS) void c.logs.show(host.name, false);
  if (choice === rollBack) {
    return runOpWithProgress(c, host.name, 'rebuild-smart', { rollback: true }, 'Rebuild Smart rollback');
  }
  return op;
}

/**
 * Ask the host for a dry run with the same params, show what the run would do, and ask.
 * Resolves with the planned phases (for the progress), throws CancelledByUser when declined.
 */
async function confirmPlan(c: OpFlowContext, host: string, params: Params): Promise<PlannedPhase[]> {
  const dry = await runOpWithProgress(c, host, 'rebuild-smart', { ...params, dryRun: true }, 'Rebuild Smart: planning', { quiet: true });
  const result = opResultOf('rebuild-smart', dry.result);
  const phases = (result?.phases ?? []) as PlannedPhase[];
  if (dry.state !== 'succeeded') {
    openLogsOnFailure(c, host);
    const choice = await c.editor.showErrorMessage(`Rebuild Smart on ${host}: the dry run that plans it ${dry.state}: ${dry.error ?? 'see the log'}`, SHOW_LOGS);
    if (choice === SHOW_LOGS) void c.logs.show(host, false);
    throw new CancelledByUser();
  }
  const ok = await c.editor.confirm({
    message: `Rebuild Smart on ${host}: ${commitWords(params)} from its checkout?`,
    detail: describePlan(phases, result?.plannedCommands ?? []),
    action: 'Run Rebuild Smart',
    keep: 'Not Now',
  });
  if (!ok) throw new CancelledByUser();
  return phases;
}

function commitWords(p: Params): string {
  if (p.autoCommit && p.autoPush) return 'rebuild, then commit and push';
  return p.autoCommit ? 'rebuild, then commit' : 'rebuild, then push';
}

/** The dialog's detail: every phase that will run (with what it will do) and those skipped, then the git commands that change the repository. */
export function describePlan(phases: readonly PlannedPhase[], plannedCommands: readonly string[]): string {
  const run = phases.filter((p) => p.status !== 'skipped');
  const skipped = phases.filter((p) => p.status === 'skipped');
  const lines = [`Phases (${run.length}):`, ...run.map((p, i) => `${i + 1}. ${p.title}${p.detail ? `: ${p.detail}` : ''}`)];
  if (skipped.length) lines.push('', `Skipped: ${skipped.map((p) => `${p.title} (${p.detail ?? 'off'})`).join('; ')}`);
  // The commands that write to the repository and its remote (a dry run lists them, not runs them).
  const git = plannedCommands.filter((cmd) => /^git (add|commit|push)\b|^\S*jj (commit|bookmark set|git push)\b/.test(cmd));
  if (git.length) lines.push('', 'Will run:', ...git.map((cmd) => `  ${oneLine(cmd)}`));
  return lines.join('\n');
}

/** A command on one line of the dialog: a commit message's body is left out (its subject says it), long ones cut. */
function oneLine(cmd: string): string {
  const [first = ''] = cmd.split('\n');
  const shown = first === cmd ? cmd : `${first.trimEnd()} …'`;
  return shown.length > 140 ? shown.slice(0, 139) + '…' : shown;
}

/** "Phase 3 of 7: Rebuild" for a phase's start line; the plan gives the count and titles. */
function phaseProgress(plan: readonly PlannedPhase[] | undefined): (line: { stream: string; text: string }) => string | undefined {
  const running = plan?.filter((p) => p.status !== 'skipped');
  return (line) => {
    if (line.stream !== 'info') return undefined;
    const name = phaseStarted(line.text);
    if (!name) return undefined;
    const i = running?.findIndex((p) => p.name === name) ?? -1;
    const title = running?.[i]?.title ?? name;
    return i >= 0 ? `phase ${i + 1} of ${running!.length}: ${title}` : `phase: ${title}`;
  };
}
