// `checkout.lockHash` in host.status: how the agent and the extension fingerprint a flake.lock,
// so the Lock row can say whether a host's checkout and the workspace pin the same inputs.
import { createHash } from 'node:crypto';

/** sha256 (hex) of a flake.lock's bytes, as read from disk. */
export function flakeLockHash(content: Uint8Array | string): string {
  return createHash('sha256').update(content).digest('hex');
}

/**
 * What each of the root's inputs is pinned to, by input name: the locked git revision when
 * there is one, else the locked narHash. Two checkouts whose maps are equal build with the same
 * inputs; where they differ, these name which input moved. Undefined for a file that is not a
 * flake.lock (not JSON, or no root node).
 */
export function lockedInputs(content: Uint8Array | string): Record<string, string> | undefined {
  let lock: unknown;
  try {
    lock = JSON.parse(typeof content === 'string' ? content : Buffer.from(content).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isObject(lock) || !isObject(lock.nodes) || typeof lock.root !== 'string') return undefined;
  const nodes = lock.nodes;
  const root = nodes[lock.root];
  if (!isObject(root)) return undefined;
  const out: Record<string, string> = {};
  const inputs = isObject(root.inputs) ? root.inputs : {};
  for (const [name, ref] of Object.entries(inputs).slice(0, 200)) {
    // An input either names a node, or follows a path of input names from the root (`follows`).
    const nodeName = typeof ref === 'string' ? ref : Array.isArray(ref) ? followPath(nodes, lock.root, ref) : undefined;
    const node = nodeName === undefined ? undefined : nodes[nodeName];
    const locked = isObject(node) && isObject(node.locked) ? node.locked : undefined;
    const pin = typeof locked?.rev === 'string' ? locked.rev : typeof locked?.narHash === 'string' ? locked.narHash : undefined;
    if (pin !== undefined) out[name.slice(0, 256)] = pin.slice(0, 256);
  }
  return out;
}

/** Bounded: a damaged lock file with a `follows` cycle must not hang the status. */
function followPath(nodes: Record<string, unknown>, from: string, path: unknown[], depth = 0): string | undefined {
  if (depth > 32) return undefined;
  let at: string | undefined = from;
  for (const step of path) {
    const node: unknown = at === undefined ? undefined : nodes[at];
    if (typeof step !== 'string' || !isObject(node) || !isObject(node.inputs)) return undefined;
    const next: unknown = node.inputs[step];
    at = typeof next === 'string' ? next : Array.isArray(next) ? followPath(nodes, from, next, depth + 1) : undefined;
  }
  return at;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
