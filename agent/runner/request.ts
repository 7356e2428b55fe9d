// request.json: what the worker runs, written by whoever accepted the op (agent or CLI)
// before the worker starts. It carries the effective config (file + CLI overrides) so
// the worker runs with exactly what was accepted, even if the config file changes.
import { z } from 'zod';
import { clientIdentity, opKind, type ClientIdentity, type OpKind } from '../../protocol';
import { readJsonSync, writeJsonAtomicSync } from '../state/atomic';
import { requestFile, workerFile } from '../journal/paths';
import { parseConfig, type AgentConfig } from '../config';

export interface OpRequest {
  kind: OpKind;
  params: Record<string, unknown>;
  client: ClientIdentity;
  config: AgentConfig;
  /** Magic rollback: after activation, wait for `op.confirm` up to config.confirmTimeout seconds. */
  magicRollback?: boolean;
}

const requestSchema = z.object({
  kind: opKind,
  params: z.record(z.string(), z.unknown()),
  client: clientIdentity,
  config: z.unknown(),
  magicRollback: z.boolean().optional(),
});

export function writeRequest(stateDir: string, opId: string, req: OpRequest): void {
  // Read once, by the op's worker, while it runs: after a power cut no worker runs and the
  // op is recorded interrupted from op.json and the activation record, so the fsyncs (~2 ms
  // on an op's start) buy nothing here. The replace stays atomic.
  writeJsonAtomicSync(requestFile(stateDir, opId), req, { durable: false });
}

export function readRequest(stateDir: string, opId: string): OpRequest {
  const file = requestFile(stateDir, opId);
  const raw = readJsonSync(file);
  if (raw === undefined) throw new Error(`${file} does not exist: op ${opId} was never accepted on this host`);
  const parsed = requestSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${file} is not a valid op request: ${parsed.error.issues[0]?.message}`);
  return { ...parsed.data, config: parseConfig(parsed.data.config, file) };
}

export interface WorkerRecord {
  pid: number;
  startTime?: string;
  /** systemd transient unit name, when the worker runs under systemd. */
  unit?: string;
}

const workerSchema = z.object({ pid: z.number().int(), startTime: z.string().optional(), unit: z.string().optional() });

export function writeWorker(stateDir: string, opId: string, rec: WorkerRecord): void {
  // Names a live process: after a power cut it is gone whatever this says (atomic, not fsynced).
  writeJsonAtomicSync(workerFile(stateDir, opId), rec, { durable: false });
}

export function readWorker(stateDir: string, opId: string): WorkerRecord | undefined {
  try {
    const parsed = workerSchema.safeParse(readJsonSync(workerFile(stateDir, opId)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
