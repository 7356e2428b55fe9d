// Cancel and confirm, as files in the op's directory the worker and any agent can see:
// `cancel-requested` (the worker's process group gets SIGTERM, then SIGKILL) and the
// confirmation a magic-rollback worker waits for.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { OpInfo } from '../../protocol';
import { confirmFile, opDir } from '../journal/paths';
import { REPLACE, writeNoFollowSync } from '../state/noFollow';
import { processRunning } from './process';
import { readWorker } from './request';

/** How long a cancelled worker gets to stop on SIGTERM before its process group is killed. */
export const CANCEL_GRACE_MS = 10_000;

const cancelFile = (stateDir: string, opId: string) => path.join(opDir(stateDir, opId), 'cancel-requested');

export function requestCancel(stateDir: string, opId: string): void {
  writeNoFollowSync(cancelFile(stateDir, opId), new Date().toISOString() + '\n', REPLACE);
}

/** Was the op asked to stop? (A dead worker's op then ends cancelled, not interrupted.) */
export function cancelRequested(stateDir: string, opId: string): boolean {
  return existsSync(cancelFile(stateDir, opId));
}

/** Signal the op's worker and its process group; false when no worker of the op runs. */
export function signalWorker(stateDir: string, opId: string, signal: NodeJS.Signals): boolean {
  const worker = readWorker(stateDir, opId);
  if (!worker || !processRunning(worker.pid, worker.startTime)) return false;
  try {
    process.kill(-worker.pid, signal);
  } catch {
    try {
      process.kill(worker.pid, signal);
    } catch {
      /* already gone */
    }
  }
  return true;
}

/** Why `info` cannot be confirmed, or undefined when it waits for a confirmation. */
export function notConfirmable(info: OpInfo): string | undefined {
  return info.state !== 'running' || !info.confirmDeadline ? `op ${info.id} is not waiting for a confirmation (state ${info.state})` : undefined;
}

/** Magic rollback: record the controller's confirmation for the waiting worker. */
export function writeConfirmation(stateDir: string, opId: string): void {
  writeNoFollowSync(confirmFile(stateDir, opId), new Date().toISOString() + '\n', REPLACE);
}
