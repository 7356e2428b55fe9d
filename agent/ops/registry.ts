// The op registry: one entry per op kind, and the one path every caller runs an op by
// (the worker in production, the tests and the benches in-process): parse the params,
// validate, run, post-check. Adding an op means one file and one line here.
import { printable, type OpKind, type OpParams, type OpResult } from '../../protocol';
import { buildOp } from './build';
import { forceRebuildOp } from './forceRebuild';
import { gcOp } from './gc';
import { pullOp } from './pull';
import { rebuildSmartOp } from './rebuildSmart';
import { rollbackOp } from './rollback';
import { selfUpdateOp } from './selfUpdate';
import { switchOp } from './switch';
import { testOp } from './test';
import type { AgentConfig } from '../config';
import type { Command, OpContext, OpDefinition } from './types';
import { OpError } from './types';

/** Every kind the protocol names has its definition here: a kind without one does not compile. */
export const registry: { readonly [K in OpKind]: OpDefinition<K> } = {
  switch: switchOp,
  'force-rebuild': forceRebuildOp,
  rollback: rollbackOp,
  test: testOp,
  pull: pullOp,
  build: buildOp,
  'self-update': selfUpdateOp,
  'rebuild-smart': rebuildSmartOp,
  gc: gcOp,
};

/** The definition of `kind`; undefined for a name this agent does not know. */
export function getOp<K extends OpKind>(kind: K): OpDefinition<K> | undefined {
  return Object.hasOwn(registry, kind) ? (registry[kind] as OpDefinition<K>) : undefined;
}

/** The definition of `kind`, or OpError saying this agent lacks it and what to do. */
export function requireOp(kind: string, host: string): OpDefinition {
  const def = getOp(kind as OpKind) as OpDefinition | undefined;
  if (!def) throw new OpError(`host ${host}: this agent has no op "${printable(kind)}"; update the agent or use another op`);
  return def;
}

/**
 * The command op `kind` starts with for these params and config when it can be started ahead
 * (OpDefinition.firstCommand); undefined when it has none, or the op would refuse the request
 * (the op says why when it runs).
 */
export function firstCommandOf(req: { kind: string; params: Record<string, unknown>; config: AgentConfig }): Command | undefined {
  let def: OpDefinition;
  try {
    def = requireOp(req.kind, req.config.host);
  } catch {
    return undefined;
  }
  const params = def.params.safeParse(req.params);
  return params.success ? def.firstCommand?.(req.config, params.data as never) : undefined;
}

/**
 * Validate raw params against the op's schema: the one parse of an op's params, at accept
 * time and again in the worker. OpError names the host, the op and the field.
 */
export function parseOpParams<K extends OpKind>(def: OpDefinition<K>, host: string, raw: unknown): OpParams<K> {
  const parsed = def.params.safeParse(raw ?? {});
  if (!parsed.success) {
    // A name the op does not know is said first: it is the likelier mistake (or probe) than a
    // missing field, and the answer should not depend on which check zod ran first.
    const issue = parsed.error.issues.find((i) => i.code === 'unrecognized_keys') ?? parsed.error.issues[0]!;
    const where = issue.code === 'unrecognized_keys' ? `unknown parameter(s) ${issue.keys.map((k) => `"${printable(k)}"`).join(', ')}` : `${issue.path.join('.') || 'params'}: ${issue.message}`;
    throw new OpError(`host ${host}: invalid parameters for ${def.kind}: ${where}; nothing was run`);
  }
  return parsed.data as OpParams<K>;
}

/**
 * Run one op: parse params, validate, run, post-check. Invalid params and failed
 * validation throw OpError before any command runs.
 */
export async function executeOp(kind: OpKind, ctx: OpContext, rawParams: unknown): Promise<OpResult> {
  const def = requireOp(kind, ctx.config.host);
  const params = parseOpParams(def, ctx.config.host, rawParams);
  await def.validate?.(ctx, params as never);
  const result = await def.run(ctx, params as never);
  return def.postCheck ? def.postCheck(ctx, result) : result;
}
