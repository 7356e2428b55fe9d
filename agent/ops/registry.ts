// The op registry: one entry per op kind. Adding an op means one file and one line here.
import { printable, type OpKind, type OpParams, type OpResult } from '../../protocol';
import { buildOp } from './build';
import { forceRebuildOp } from './forceRebuild';
import { pullOp } from './pull';
import { rebuildSmartOp } from './rebuildSmart';
import { rollbackOp } from './rollback';
import { selfUpdateOp } from './selfUpdate';
import { switchOp } from './switch';
import { testOp } from './test';
import type { OpContext, OpDefinition } from './types';
import { OpError } from './types';

export const registry: { [K in OpKind]?: OpDefinition<K> } = {
  switch: switchOp,
  'force-rebuild': forceRebuildOp,
  rollback: rollbackOp,
  test: testOp,
  pull: pullOp,
  build: buildOp,
  'self-update': selfUpdateOp,
  'rebuild-smart': rebuildSmartOp,
};

export function getOp<K extends OpKind>(kind: K): OpDefinition<K> | undefined {
  return registry[kind] as OpDefinition<K> | undefined;
}

/** Validate raw params against the op's schema; OpError names the field and the host. */
export function parseOpParams<K extends OpKind>(def: OpDefinition<K>, host: string, raw: unknown): OpParams<K> {
  const parsed = def.params.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.code === 'unrecognized_keys' ? `unknown parameter(s) ${issue.keys.map((k) => `"${printable(k)}"`).join(', ')}` : `${issue.path.join('.') || 'params'}: ${issue.message}`;
    throw new OpError(`host ${host}: invalid parameters for ${def.kind}: ${where}; nothing was run`);
  }
  return parsed.data as OpParams<K>;
}

/**
 * Run one op the way the runtime does: parse params, validate, run, post-check. Invalid
 * params and failed validation throw OpError before any command runs.
 */
export async function executeOp<K extends OpKind>(kind: K, ctx: OpContext, rawParams: unknown): Promise<OpResult> {
  const def = getOp(kind);
  if (!def) throw new OpError(`host ${ctx.config.host}: this agent has no op "${printable(kind)}"; update the agent or use another op`);
  const params = parseOpParams(def, ctx.config.host, rawParams);
  await def.validate?.(ctx, params);
  const result = await def.run(ctx, params);
  return def.postCheck ? def.postCheck(ctx, result) : result;
}
