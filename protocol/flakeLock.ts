// `checkout.lockHash` in host.status: how the agent and the extension fingerprint a flake.lock,
// so the Lock row can say whether a host's checkout and the workspace pin the same inputs.
import { createHash } from 'node:crypto';

/** sha256 (hex) of a flake.lock's bytes, as read from disk. */
export function flakeLockHash(content: Uint8Array | string): string {
  return createHash('sha256').update(content).digest('hex');
}
