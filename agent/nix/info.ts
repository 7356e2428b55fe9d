// The installed Nix, asked once per installed binary (see version.ts for what it decides).
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { runCommand } from '../exec';
import type { NixInfo } from '../ops/types';
import { nixInfoFor, parseNixVersion } from './version';

export { compareVersions, nixInfoFor, parseNixVersion } from './version';

let cached: { binary: string; info: Promise<NixInfo> } | undefined;

/**
 * The `nix` a command run now would start: the first executable `nix` on PATH, as the
 * file it resolves to with its identity. A standby worker asks Nix's version long before
 * its op; an upgrade of Nix (a new store path, a replaced file) changes this, so the
 * answer is asked again rather than trusted for some time. Undefined when there is none.
 */
export function nixBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      const real = realpathSync(path.join(dir, 'nix'));
      const st = statSync(real);
      if (st.isFile() && (st.mode & 0o111) !== 0) return `${real} ${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch {
      /* not in this directory */
    }
  }
  return undefined;
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
