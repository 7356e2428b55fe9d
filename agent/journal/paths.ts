// Where an op's files live under the agent's state directory. Op ids passed the
// protocol's OP_ID_RE before they reach here, so they are safe as directory names.
import path from 'node:path';
import { OP_ID_RE } from '../../protocol';

export function opsDir(stateDir: string): string {
  return path.join(stateDir, 'ops');
}

export function opDir(stateDir: string, opId: string): string {
  if (!OP_ID_RE.test(opId)) throw new Error(`internal: "${opId}" is not a valid op id`);
  return path.join(opsDir(stateDir), opId);
}

export const journalFile = (stateDir: string, opId: string) => path.join(opDir(stateDir, opId), 'journal.jsonl');
export const opInfoFile = (stateDir: string, opId: string) => path.join(opDir(stateDir, opId), 'op.json');
/** The request as the agent accepted it: kind, params, client, and the config snapshot the worker runs with. */
export const requestFile = (stateDir: string, opId: string) => path.join(opDir(stateDir, opId), 'request.json');
/** The worker's pid and process start time, so a restarted agent can tell whether it still runs. */
export const workerFile = (stateDir: string, opId: string) => path.join(opDir(stateDir, opId), 'worker.json');
/** Written by the agent when the controller confirms an activation (magic rollback). */
export const confirmFile = (stateDir: string, opId: string) => path.join(opDir(stateDir, opId), 'confirmed');
/** Written by the op's worker after its last step (final record, audit record, host lock released): runner/watch.ts. */
export const finishedFile = (stateDir: string, opId: string) => path.join(opDir(stateDir, opId), 'finished');
export const auditFile = (stateDir: string) => path.join(stateDir, 'audit.jsonl');
export const lockFile = (stateDir: string) => path.join(stateDir, 'lock');
