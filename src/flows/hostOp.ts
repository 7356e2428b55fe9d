// The flow of the commands that run one op on one host (Switch, Force Rebuild, Pull, Run
// Tests, Update Agent): pick the host, run the op with progress, say what it did (with Show
// Logs, success or not).
import type { OpInfo, OpKind } from '../../protocol';
import type { FlowContext } from './context';
import { runOpWithProgress } from './opProgress';
import { resolveHost } from './pickHost';

export interface HostOpSpec {
  /** Shown in the picker and the progress notification. */
  title: string;
  kind: OpKind;
  params: Record<string, unknown>;
  /** The message after success, from the final op. */
  done?(host: string, op: OpInfo): string;
  /** Activates a new generation: ask for magic rollback when the setting is on. */
  activates?: boolean;
  /** The progress title when it differs from `title`. */
  progressTitle?: string;
}

export async function hostOpFlow(c: FlowContext, arg: unknown, spec: HostOpSpec): Promise<OpInfo> {
  const host = await resolveHost(c, arg, { title: spec.title });
  const magicRollback = spec.activates ? c.settings.magicRollback : undefined;
  const done = spec.done;
  return runOpWithProgress(c, host.name, spec.kind, spec.params, spec.progressTitle ?? spec.title, { magicRollback, done: done && ((op) => done(host.name, op)) });
}
