// Reading flake.lock: which inputs the flake has and what each is locked to, so the run
// can tell whether `nix-secrets` exists and report what an update changed.
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface LockedInput {
  name: string;
  /** rev, or narHash when the input has no revision. */
  locked?: string;
}

/** Direct inputs of the root node; an absent flake.lock means none. */
export function readLockedInputs(flakeDir: string): LockedInput[] {
  const file = path.join(flakeDir, 'flake.lock');
  let lock: { root?: string; nodes?: Record<string, { inputs?: Record<string, unknown>; locked?: { rev?: string; narHash?: string } }> };
  try {
    lock = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`cannot read ${file}: ${(err as Error).message}; fix or delete it (nix flake lock recreates it)`);
  }
  const nodes = lock.nodes ?? {};
  const root = nodes[lock.root ?? 'root'];
  return Object.entries(root?.inputs ?? {}).map(([name, ref]) => {
    // An input entry is a node name, or a "follows" path (a list): the latter has no lock of its own.
    const node = typeof ref === 'string' ? nodes[ref] : undefined;
    return { name, locked: node?.locked?.rev ?? node?.locked?.narHash };
  });
}

/** "name: abc1234 → def5678" for every input whose lock changed. */
export function lockChanges(before: LockedInput[], after: LockedInput[]): string[] {
  const old = new Map(before.map((i) => [i.name, i.locked]));
  const short = (s: string | undefined) => (s ? s.replace(/^sha256-/, '').slice(0, 7) : 'none');
  return after
    .filter((i) => old.get(i.name) !== i.locked)
    .map((i) => `${i.name}: ${short(old.get(i.name))} → ${short(i.locked)}`);
}
