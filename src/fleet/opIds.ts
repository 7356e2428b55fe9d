// Op ids are chosen here, before op.start, so a retried start (after a dropped connection)
// finds the op already running instead of starting it twice.
import { randomBytes } from 'node:crypto';
import type { OpKind } from '../../protocol';

export function newOpId(kind: OpKind, now = Date.now()): string {
  return `${kind}-${now.toString(36)}-${randomBytes(4).toString('hex')}`;
}
