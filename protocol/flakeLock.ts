// `checkout.lockHash` in host.status: how the agent and the extension fingerprint a flake.lock,
// so the Lock row can say whether a host's checkout and the workspace pin the same inputs.
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** sha256 (hex) of a flake.lock's bytes, as read from disk. */
export function flakeLockHash(content: Uint8Array | string): string {
  return createHash('sha256').update(content).digest('hex');
}

// Only the parts read here are checked; Nix adds fields from version to version. The agent's
// flake.lock reader (agent/nix/flakeLock.ts) reads with it too.
export const flakeLockFile = z.looseObject({
  root: z.string().default('root'),
  nodes: z.record(
    z.string(),
    z.looseObject({
      inputs: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
      locked: z.looseObject({ rev: z.string().optional(), narHash: z.string().optional() }).optional(),
    }),
  ),
});
export type FlakeLockFile = z.infer<typeof flakeLockFile>;

/**
 * What each of the root's inputs is pinned to, by input name: the locked git revision when
 * there is one, else the locked narHash; a `follows` input is pinned as the input it follows.
 * Two checkouts whose maps are equal build with the same inputs; where they differ, these
 * name which input moved. Undefined for a file that is not a flake.lock.
 */
export function lockedInputs(content: Uint8Array | string): Record<string, string> | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof content === 'string' ? content : Buffer.from(content).toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = flakeLockFile.safeParse(raw);
  if (!parsed.success) return undefined;
  const { nodes, root } = parsed.data;
  if (!nodes[root]) return undefined;
  const out: Record<string, string> = {};
  for (const [name, ref] of Object.entries(nodes[root].inputs ?? {}).slice(0, 200)) {
    const nodeName = typeof ref === 'string' ? ref : followPath(nodes, root, ref);
    const locked = nodeName === undefined ? undefined : nodes[nodeName]?.locked;
    const pin = locked?.rev ?? locked?.narHash;
    if (pin !== undefined) out[name.slice(0, 256)] = pin.slice(0, 256);
  }
  return out;
}

/** The node a `follows` path (input names from the root) ends at. Bounded: a damaged file with a cycle must not hang the status. */
function followPath(nodes: FlakeLockFile['nodes'], root: string, path: readonly string[], depth = 0): string | undefined {
  if (depth > 32) return undefined;
  let at: string | undefined = root;
  for (const step of path) {
    const next: string | string[] | undefined = at === undefined ? undefined : nodes[at]?.inputs?.[step];
    at = typeof next === 'string' ? next : Array.isArray(next) ? followPath(nodes, root, next, depth + 1) : undefined;
  }
  return at;
}
