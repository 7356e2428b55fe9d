// The installed Nix, asked once per installed binary (see version.ts for what it decides).
import { programOnPath, runCommand } from '../exec';
import type { NixInfo } from '../ops/types';
import { nixInfoFor, parseNixVersion } from './version';

export { compareVersions, nixInfoFor, parseNixVersion } from './version';

let cached: { binary: string; info: Promise<NixInfo> } | undefined;

/**
 * The `nix` a command run now would start, as its file and identity. A standby worker asks
 * Nix's version long before its op; an upgrade of Nix (a new store path, a replaced file)
 * changes this, so the answer is asked again rather than trusted for some time.
 */
export function nixBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return programOnPath('nix', env)?.identity;
}

/** The installed Nix: asked once, and again whenever the `nix` on PATH is another file. */
export function detectNix(): Promise<NixInfo> {
  const binary = nixBinary();
  if (cached && binary !== undefined && cached.binary === binary) return cached.info;
  const entry = {
    binary: binary ?? '',
    info: runCommand(['nix', '--version'], () => {}, { capture: true, quietStdout: true, timeoutMs: 30_000 })
      .then((r) => nixInfoFor(parseNixVersion(r.stdout)))
      .catch((err: unknown) => {
        if (cached === entry) cached = undefined; // let a later call retry (nix may be installed meanwhile)
        throw new Error(`cannot run "nix --version": ${(err as Error).message}; install Nix or put it on the agent's PATH`);
      }),
  };
  // No nix found on PATH: not remembered, the next call looks again.
  if (binary !== undefined) cached = entry;
  return entry.info;
}
