// Which Nix is installed decides how some commands are spelled (TESTBED.md: Nix 2.8 has
// `nix flake lock --update-input X`, Nix ≥ 2.19 wants `nix flake update X`).
// Pure parsing only: the serving agent imports this without loading execa (its idle
// memory is a tracked target), workers get the same answer through detectNix().
import type { NixInfo } from '../ops/types';

/** Parse the output of `nix --version` ("nix (Nix) 2.8.0", "nix (Nix) 2.24.10pre..."). */
export function parseNixVersion(text: string): string {
  const m = /\bnix \(Nix\) ([0-9]+\.[0-9]+(?:\.[0-9]+)?)/.exec(text) ?? /\b([0-9]+\.[0-9]+(?:\.[0-9]+)?)\b/.exec(text);
  if (!m) throw new Error(`cannot read the Nix version from "${text.trim().slice(0, 80)}": is nix installed and on PATH?`);
  return m[1]!;
}

/** -1, 0 or 1 as version a is lower, equal or higher than b (numeric parts). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export function nixInfoFor(version: string): NixInfo {
  const newFlakeUpdate = compareVersions(version, '2.19') >= 0;
  return {
    version,
    flakeUpdateInput: (input: string) =>
      newFlakeUpdate ? ['nix', 'flake', 'update', input] : ['nix', 'flake', 'lock', '--update-input', input],
  };
}
