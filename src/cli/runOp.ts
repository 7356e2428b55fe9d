// Start an op on a host and follow it to its end: the CLI's single path for switch,
// rollback, deploys and the rest. A retried start with the same op id finds the running op
// (never a second run); Ctrl-C (the signal) sends op.cancel and still waits for the end.
import type { OpInfo, OpKind, OutputLine } from '../../protocol';
import { confirmActivation } from '../fleet/confirmActivation';
import { AgentRequestError } from '../fleet/session';
import type { Connections } from './hosts/connections';
import { followOp } from './follow';

export interface RunOpOptions {
  opId: string;
  /** Magic rollback: the host waits for a confirmation over a new connection after activating. */
  magicRollback?: boolean;
  onLines?: (lines: OutputLine[]) => void;
  onStarted?: (op: OpInfo, existing: boolean) => void;
  onNotice?: (text: string) => void;
  signal?: AbortSignal;
}

/** The op could not be started (offline, busy, refused, invalid): nothing ran. */
export class OpStartError extends Error {
  override name = 'OpStartError';
}

export async function runOp(conns: Connections, host: string, kind: OpKind, params: Record<string, unknown>, o: RunOpOptions): Promise<OpInfo> {
  const session = await conns.online(host);
  let started: { op: OpInfo; existing: boolean };
  try {
    started = await session.startOp({ op: o.opId, kind, params, ...(o.magicRollback ? { magicRollback: true } : {}) });
  } catch (err) {
    throw describeStartError(host, kind, err);
  }
  o.onStarted?.(started.op, started.existing);
  const magic = { confirmed: false, inFlight: false };
  // Confirm (once) when the op's record says it waits for op.confirm: the cue is the record's
  // confirmDeadline (protocol CONFIRM_DEADLINE_EVENT), never a log line's text. The agent
  // announces it with op.state; an op that began waiting before this client subscribed (a
  // standby worker starts at once, so a quick switch may get there before the start reply)
  // shows it in the record the subscription returns.
  const confirmIfWaiting = (info: OpInfo) => {
    if (info.id !== o.opId || info.state !== 'running' || !info.confirmDeadline) return;
    if (!o.magicRollback || magic.confirmed || magic.inFlight) return;
    magic.inFlight = true;
    confirmActivation(conns.fresh(host), o.opId)
      .then((r) => {
        if (r !== 'confirmed') return;
        magic.confirmed = true;
        o.onNotice?.(`confirmed op ${o.opId} over a new connection: host ${host} is still reachable (magic rollback)`);
      })
      .catch((err: unknown) => o.onNotice?.(`could not confirm op ${o.opId} (magic rollback): ${(err as Error).message}; ${host} rolls back by itself unless confirmed in time`))
      .finally(() => (magic.inFlight = false));
  };
  const offState = session.onOpEvent((e) => {
    if (e.type === 'op.state') confirmIfWaiting(e.op);
  });
  const onLines = (lines: OutputLine[]) => o.onLines?.(lines);
  const cancel = () => {
    o.onNotice?.(`cancelling ${kind} ${o.opId} on ${host} …`);
    session.cancelOp(o.opId).catch((err: unknown) => o.onNotice?.(`could not cancel op ${o.opId} on ${host}: ${(err as Error).message}`));
  };
  if (o.signal?.aborted) cancel();
  else o.signal?.addEventListener('abort', cancel, { once: true });
  try {
    return await followOp(session, host, o.opId, { onLines, onSubscribed: confirmIfWaiting });
  } finally {
    offState();
    o.signal?.removeEventListener('abort', cancel);
  }
}

function describeStartError(host: string, kind: OpKind, err: unknown): OpStartError {
  const msg = (err as Error).message ?? String(err);
  if (err instanceof AgentRequestError) {
    switch (err.code) {
      case 'busy':
        return new OpStartError(`${kind} on ${host} not started: ${msg.replace(/^busy:\s*/, 'the host is busy: ')}; wait for it, or stop it with "nixfleet cancel ${host}"`);
      case 'unauthorized':
        return new OpStartError(`${kind} on ${host} not started: the agent refused (${msg}); give the token from the host's tokenFile (--tokens-file or NIXFLEET_TOKEN_*)`);
    }
  }
  return new OpStartError(`${kind} on ${host} not started: ${msg}`);
}
