// The installed Nix, asked once per process (see version.ts for what it decides).
import { runCommand } from '../exec';
import type { NixInfo } from '../ops/types';
import { nixInfoFor, parseNixVersion } from './version';

export { compareVersions, nixInfoFor, parseNixVersion } from './version';

let cached: Promise<NixInfo> | undefined;

/** The installed Nix, asked once per process. */
export function detectNix(): Promise<NixInfo> {
  cached ??= runCommand(['nix', '--version'], () => {}, { capture: true, quietStdout: true, timeoutMs: 30_000 })
    .then((r) => nixInfoFor(parseNixVersion(r.stdout)))
    .catch((err: unknown) => {
      cached = undefined; // let a later call retry (nix may be installed meanwhile)
      throw new Error(`cannot run "nix --version": ${(err as Error).message}; install Nix or put it on the agent's PATH`);
    });
  return cached;
}
