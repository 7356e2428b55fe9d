// Running an op from the CLI: the same path as the agent (lock, detached worker,
// journal), with the journal followed to the terminal until the op ends.
import { userInfo } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { OpInfo, OpKind, OutputLine } from '../../protocol';
import type { AgentConfig } from '../config';
import { OpManager, OpRequestError } from '../runner/manager';
import { RefusalLog } from '../server/refusalLog';
import { Subscription } from '../server/subscription';

export function cliIdentity() {
  let user = process.env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry (containers): keep $USER */
  }
  return { name: 'nixfleet-agent CLI', auth: `cli:${user.replace(/[^A-Za-z0-9._-]/g, '?').slice(0, 64)}` };
}

export function newOpId(kind: OpKind): string {
  return `cli-${kind}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export interface Printer {
  line(l: OutputLine): void;
}

/** Prints stdout lines to stdout, everything else to stderr (so `--json` output stays clean). */
export function terminalPrinter(json: boolean): Printer {
  return {
    line(l) {
      const out = l.stream === 'stdout' && !json ? process.stdout : process.stderr;
      out.write((l.stream === 'info' ? '» ' : '') + l.text + '\n');
    },
  };
}

/** Follow op `opId`'s journal from `fromSeq` until it ends; resolves with its final record. */
export function followOp(manager: OpManager, opId: string, fromSeq: number, printer: Printer): Promise<OpInfo> {
  const info = manager.get(opId);
  if (!info) return Promise.reject(new Error(`no op ${opId} on host ${manager.config.host}; list ops with "nixfleet-agent ops"`));
  // The manager's timers and watchers do not hold the process open; this does, until the end.
  const keepAlive = setInterval(() => {}, 1 << 30);
  return new Promise<OpInfo>((resolve, reject) => {
    const sub: Subscription = new Subscription(
      manager,
      opId,
      fromSeq,
      info,
      {
        congested: () => process.stdout.writableLength > 1024 * 1024 || process.stderr.writableLength > 1024 * 1024,
        sendRaw: (bytes) => {
          const frame = JSON.parse(bytes.toString('utf8')) as { lines: OutputLine[] };
          for (const l of frame.lines) printer.line(l);
        },
        sendEvent: (msg) => {
          const m = msg as { type: string; op?: OpInfo; error?: { message: string } };
          if (m.type === 'op.end') resolve(m.op!);
          else if (m.type === 'error') reject(new Error(m.error!.message));
        },
      },
      () => {},
    );
    const kick = () => sub.kick();
    process.stdout.on('drain', kick);
    process.stderr.on('drain', kick);
    manager.on('end', (end) => {
      if (end.id === opId) sub.ended(end);
    });
    sub.start().catch(reject);
  }).finally(() => clearInterval(keepAlive));
}

/** Start an op as the local user and follow it to the end. */
export async function runOpFromCli(config: AgentConfig, kind: OpKind, params: Record<string, unknown>, opId: string, json: boolean): Promise<OpInfo> {
  const manager = new OpManager(config);
  try {
    const client = cliIdentity();
    const { op } = await manager.start({ op: opId, kind, params, client }, { authenticated: true }).catch((err: unknown) => {
      // A refused start (busy, conflict, invalid) is an attempt the audit log keeps, as over the protocol.
      if (err instanceof OpRequestError && ['busy', 'conflict', 'invalid'].includes(err.code)) {
        const log = new RefusalLog(config.stateDir, undefined, undefined, () => {}); // the CLI's error says it all
        log.record({ source: client.auth, client, request: 'op.start', op: opId, kind, params: JSON.stringify(params), code: err.code, reason: err.message });
        log.close();
      }
      throw err;
    });
    // Ctrl-C cancels the op rather than abandoning a worker that runs on.
    const onInt = () => {
      process.stderr.write(`\ncancelling ${kind} ${op.id} …\n`);
      manager.cancel(op.id);
    };
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onInt);
    try {
      return await followOp(manager, op.id, 0, terminalPrinter(json));
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onInt);
    }
  } finally {
    manager.close();
  }
}
