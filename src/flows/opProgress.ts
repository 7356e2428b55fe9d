// Long ops: a cancellable progress notification (Cancel sends op.cancel), the latest output
// line (or the phase a caller names) as its message, led by build counts while Nix builds
// (buildProgress.ts), and one message at the end, success or not, with "Show Logs". A failure
// opens the host's log by itself unless the user turned that off (nixfleet.showLogsOnFailure).
import type { OpInfo, OpKind, OutputLine } from '../../protocol';
import { OpProgressMessage } from '../fleet/buildProgress';
import type { FlowContext } from './context';

export const SHOW_LOGS = 'Show Logs';

export type OpFlowContext = Pick<FlowContext, 'fleet' | 'editor' | 'logs' | 'settings'>;

export interface OpProgressOptions {
  /** No end message: the caller says how it went (it has more to offer than Show Logs). */
  quiet?: boolean;
  /** A step of a longer command (a dry run before a question): an end message only if it did not succeed. */
  quietOnSuccess?: boolean;
  magicRollback?: boolean;
  /** The message after success, from the final op; default "<title> on <host> succeeded". */
  done?(op: OpInfo): string;
  /**
   * The progress message for a line, when the caller knows better than "the latest line"
   * (Rebuild Smart's phases); undefined keeps the current message.
   */
  describe?(line: OutputLine): string | undefined;
}

export async function runOpWithProgress(
  c: OpFlowContext,
  host: string,
  kind: OpKind,
  params: Record<string, unknown>,
  title: string,
  opts: OpProgressOptions = {},
): Promise<OpInfo> {
  const op = await c.editor.withProgress({ title: `${title} on ${host}`, cancellable: true }, async (progress, signal) => {
    const onCancel = () => progress.report('cancelling…');
    signal.addEventListener('abort', onCancel, { once: true });
    let opId: string | undefined;
    let lastReport = 0;
    // Build counts, then the latest line (buildProgress.ts): "building 3/12 derivations, 45.0 MiB fetched · …".
    const message = new OpProgressMessage();
    const offOutput = c.fleet.onOutput.on((e) => {
      if (e.op !== opId || !e.lines.length) return;
      if (opts.describe) {
        // Phases are few and each one counts: every one is reported.
        for (const line of e.lines) {
          const text = opts.describe(line);
          if (text !== undefined) progress.report(text);
        }
        return;
      }
      message.accept(e.lines);
      const now = Date.now();
      if (now - lastReport < 200) return; // enough to look live, not enough to flood the UI
      lastReport = now;
      progress.report(message.text);
    });
    try {
      return await c.fleet.runOp(host, kind, params, {
        signal,
        magicRollback: opts.magicRollback,
        onStarted: (o) => {
          opId = o.id;
          progress.report('started');
        },
      });
    } finally {
      offOutput();
      signal.removeEventListener('abort', onCancel);
    }
  });
  if (op.state !== 'succeeded') openLogsOnFailure(c, host);
  if (!opts.quiet && !(opts.quietOnSuccess && op.state === 'succeeded')) void reportEnd(c, host, title, op, opts.done);
  return op;
}

/** A failed (or cancelled, interrupted) op opens its host's log, keeping the focus where it is, unless turned off. */
export function openLogsOnFailure(c: Pick<FlowContext, 'logs' | 'settings'>, host: string): void {
  let open = true;
  try {
    open = c.settings.showLogsOnFailure;
  } catch {
    // A bad value: the default (open) until it is fixed; the setting's own error is shown where it is edited.
  }
  if (open) void c.logs.show(host, true);
}

/** What a finished op's message says, success or not. */
export function endMessage(host: string, title: string, op: OpInfo, done?: (op: OpInfo) => string): { level: 'info' | 'warning' | 'error'; text: string } {
  if (op.state === 'succeeded') return { level: 'info', text: done ? done(op) : `${title} on ${host} succeeded` };
  if (op.state === 'cancelled') return { level: 'warning', text: `${title} on ${host} was cancelled.${op.error ? ' ' + op.error : ''}` };
  return { level: 'error', text: `${title} on ${host} ${op.state === 'interrupted' ? 'was interrupted' : 'failed'}: ${op.error ?? `exit ${op.exit ?? '?'}`}` };
}

async function reportEnd(c: Pick<FlowContext, 'editor' | 'logs'>, host: string, title: string, op: OpInfo, done?: (op: OpInfo) => string): Promise<void> {
  const { level, text } = endMessage(host, title, op, done);
  const show = level === 'info' ? c.editor.showInformationMessage : level === 'warning' ? c.editor.showWarningMessage : c.editor.showErrorMessage;
  const choice = await show.call(c.editor, text, SHOW_LOGS);
  if (choice === SHOW_LOGS) void c.logs.show(host, false);
}
