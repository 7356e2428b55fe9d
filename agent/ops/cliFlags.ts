// Flags several ops' CLI commands share, and the one way their values become params.
import type { FlagSpec } from './types';

export const REV_FLAG: FlagSpec = { type: 'string', value: 'COMMIT', help: 'build this commit of the checkout instead of its HEAD' };

/** Keep only the flags that were given, so an op's params hold what the user asked for. */
export function givenFlags(map: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(map).filter(([, v]) => v !== undefined && v !== false));
}
