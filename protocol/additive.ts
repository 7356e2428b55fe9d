// Reading what an agent sends, as a controller: fields this release does not know are dropped,
// everything it knows is checked as strictly as ever. Agents grow their status and op records
// by adding fields (running system, fetch time, pinned inputs…); with strict parsing alone, a
// controller one release older than its agents would call every such message invalid and show
// the host as broken. Requests (controller → agent) stay strict: the agent refuses what it does
// not know, as its security rules demand.
import type { z } from 'zod';

/** At most this many rounds of dropping (one per nesting level that carries new fields). */
const MAX_ROUNDS = 8;

export function parseAdditive<T extends z.ZodType>(schema: T, raw: unknown): z.ZodSafeParseResult<z.output<T>> {
  let value = raw;
  let copied = false;
  for (let round = 0; ; round++) {
    const r = schema.safeParse(value);
    if (r.success || round === MAX_ROUNDS) return r;
    const issues = r.error.issues;
    // Only unknown keys are forgiven: a known field of the wrong type still fails.
    if (!issues.length || !issues.every((i) => i.code === 'unrecognized_keys')) return r;
    if (!copied) {
      value = structuredClone(value);
      copied = true;
    }
    for (const issue of issues) {
      const target = issue.path.reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<PropertyKey, unknown>)[k] : undefined), value);
      if (!target || typeof target !== 'object') return r;
      for (const key of (issue as { keys: string[] }).keys) delete (target as Record<string, unknown>)[key];
    }
  }
}
