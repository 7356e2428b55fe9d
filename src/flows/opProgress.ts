// Long ops: a cancellable progress notification (Cancel sends op.cancel), the latest output
// line as its message, the host's log one click away, and one message at the end.
import type { OpInfo, OpKind } from '../../protocol';
import { OpProgressMessage } from '../fleet/buildProgress';
import type { FlowContext } from './context';

export async function runOpWithProgress(
  c: Pick<FlowContext, 'fleet' | 'editor' | 'logs'>,
  host: string,
  kind: OpKind,
  params: Record<string, unknown>,
  title: string,
  opts: { quiet?: boolean; magicRollback?: boolean } = {},
): Promise<OpInfo> {
  return c.editor.withProgress({ title: `${title} on ${host}`, cancellable: true }, async (progress, signal) => {
    const onCancel = () => progress.report('cancelling…');
    signal.addEventListener('abort', onCancel, { once: true });
    let opId: string | undefined;
    let lastReport = 0;
    // Build counts, then the latest line (buildProgress.ts): "building 3/12 derivations, 45.0 MiB fetched · …".
    const message = new OpProgressMessage();
    const offOutput = c.fleet.onOutput.on((e) => {
      if (e.op !== opId || !e.lines.length) return;
      message.accept(e.lines);
      const now = Date.now();
      if (now - lastReport < 200) return; // enough to look live, not enough to flood the UI
      lastReport = now;
      progress.report(message.text);
    });
    try {
      const op = await c.fleet.runOp(host, kind, params, {
        signal,
        magicRollback: opts.magicRollback,
        onStarted: (o) => {
          opId = o.id;
          progress.report('started');
        },
      });
      if (!opts.quiet) void reportEnd(c, host, title, op);
      return op;
    } finally {
      offOutput();
      signal.removeEventListener('abort', onCancel);
    }
  });
}

async function reportEnd(c: Pick<FlowContext, 'editor' | 'logs'>, host: string, title: string, op: OpInfo): Promise<void> {
  const showLogs = 'Show Logs';
  let choice: string | undefined;
  if (op.state === 'succeeded') return;
  if (op.state === 'cancelled') {
    choice = await c.editor.showWarningMessage(`${title} on ${host} was cancelled.${op.error ? ' ' + op.error : ''}`, showLogs);
  } else {
    choice = await c.editor.showErrorMessage(
      `${title} on ${host} ${op.state === 'interrupted' ? 'was interrupted' : 'failed'}: ${op.error ?? `exit ${op.exit ?? '?'}`}`,
      showLogs,
    );
  }
  if (choice === showLogs) c.logs.show(host, false);
}
