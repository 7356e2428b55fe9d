// The CLI commands that run an op: one per registry entry, named by its kind, with the flags
// and confirmation its definition gives (agent/ops/types.ts OpCli). Nothing here is per op.
import type { OpKind } from '../../protocol';
import { registry } from '../ops/registry';
import type { OpCli } from '../ops/types';

export type { FlagSpec } from '../ops/types';

export interface OpCommand extends OpCli {
  kind: OpKind;
}

export const opCommands: Record<string, OpCommand> = Object.fromEntries(Object.values(registry).map((def) => [def.kind, { kind: def.kind, ...def.cli }]));
