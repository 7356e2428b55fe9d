// Following one op's journal over a session: replay after `fromSeq`, then live lines until
// op.end, each line handed on exactly once and in order, across reconnects and agent
// restarts (the session resubscribes from the last seq it delivered).
import type { OpInfo, OutputLine } from '../../protocol';
import { AgentRequestError, type AgentSession } from '../fleet/session';

export interface FollowOptions {
  fromSeq?: number;
  onLines?: (lines: OutputLine[]) => void;
  /** Give up when the host stays unreachable this long (default 10 minutes). */
  offlineLimitMs?: number;
  /** Stop once the lines the journal held at subscribe time arrived: the op as it is now. */
  snapshot?: boolean;
  /** The op's record as the subscription found it (it may already wait for a confirmation). */
  onSubscribed?: (info: OpInfo) => void;
}

/** The op keeps running on the host; only this client lost sight of it. */
export class FollowLostError extends Error {
  override name = 'FollowLostError';
}

export function followOp(session: AgentSession, host: string, op: string, o: FollowOptions = {}): Promise<OpInfo> {
  let last = o.fromSeq ?? 0;
  let final: OpInfo | undefined;
  let snapshot: OpInfo | undefined;
  const resume = `follow it with "nixfleet log ${host} ${op} --follow"`;
  return new Promise<OpInfo>((resolve, reject) => {
    let offlineTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    let finished = false;
    const done = (err: Error | undefined, info?: OpInfo) => {
      if (finished) return;
      finished = true;
      offState();
      offEvents();
      clearTimeout(offlineTimer);
      clearTimeout(drainTimer);
      if (err) reject(err);
      else resolve(info!);
    };
    // Lines are journalled before op.end is sent, but may trail it after a resume: wait
    // (bounded) until every line up to the op's lastSeq arrived.
    const settle = () => {
      if (final && last >= final.lastSeq) return done(undefined, final);
      if (o.snapshot && snapshot && last >= snapshot.lastSeq) return done(undefined, snapshot);
    };
    const offEvents = session.onOpEvent((e) => {
      if ((e.type === 'op.output' ? e.op : e.op.id) !== op) return;
      if (e.type === 'op.output') {
        const fresh = e.lines.filter((l) => l.seq > last).sort((a, b) => a.seq - b.seq);
        if (!fresh.length) return;
        last = fresh[fresh.length - 1]!.seq;
        o.onLines?.(fresh);
        settle();
      } else if (e.type === 'op.end') {
        final = e.op;
        settle();
        drainTimer ??= setTimeout(() => done(undefined, final), 3000);
      }
    });
    const offState = session.onState((s) => {
      if (s.state === 'online') {
        clearTimeout(offlineTimer);
        offlineTimer = undefined;
        return;
      }
      if (s.state !== 'offline') return;
      if (s.fatal) return done(new FollowLostError(`lost host ${host} while following op ${op} (${s.reason}); the op continues on the host: ${resume}`));
      offlineTimer ??= setTimeout(() => {
        done(new FollowLostError(`host ${host} stayed unreachable for ${Math.round((o.offlineLimitMs ?? 600_000) / 1000)} s while following op ${op} (${s.reason}); the op continues on the host: ${resume}`));
      }, o.offlineLimitMs ?? 600_000);
    });
    session.subscribeOp(op, last).then(
      (info) => {
        snapshot = info;
        o.onSubscribed?.(info);
        settle();
      },
      (err: unknown) => {
        // A dropped connection resubscribes on reconnect; anything else is final.
        if (err instanceof AgentRequestError && err.code === 'disconnected') return;
        if (err instanceof AgentRequestError && err.code === 'not-found') {
          return done(new Error(`host ${host} has no op ${op}: check the id ("nixfleet hosts" shows each host's running op, "nixfleet-agent ops" on the host lists them all)`));
        }
        done(new Error(`cannot follow op ${op} on ${host}: ${(err as Error).message}`));
      },
    );
  });
}
