// Reading flake.lock: which inputs the flake has and what each is locked to. Rebuild Smart
// uses it to tell whether `nix-secrets` exists and to report what an update changed;
// self-update to find the input that pins the agent. (The file's schema, and the hash and
// pins the Lock row compares, are protocol/flakeLock.ts: the extension reads them too.)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { flakeLockFile } from '../../protocol';

export interface LockedInput {
  name: string;
  /** rev, or narHash when the input has no revision; undefined for a "follows" input. */
  locked?: string;
  /** The path of the input this one follows, instead of a lock of its own. */
  follows?: string[];
}

/** Direct inputs of the root node of flake.lock's text; `file` names it in the error. */
export function parseLockedInputs(text: string, file: string): LockedInput[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON; fix or delete it (nix flake lock recreates it)`);
  }
  const parsed = flakeLockFile.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${file} is not a flake.lock Nix can read (at ${issue.path.join('.') || '(top)'}: ${issue.message}); fix or delete it (nix flake lock recreates it)`);
  }
  const { nodes, root } = parsed.data;
  return Object.entries(nodes[root]?.inputs ?? {}).map(([name, ref]) => {
    // An input is a node name, or a "follows" path (a list) with no lock of its own.
    if (Array.isArray(ref)) return { name, follows: ref };
    const locked = nodes[ref]?.locked;
    return { name, locked: locked?.rev ?? locked?.narHash };
  });
}

/** Direct inputs of the flake in `flakeDir`; undefined when it has no flake.lock. */
export function readLockedInputs(flakeDir: string): LockedInput[] | undefined {
  const file = path.join(flakeDir, 'flake.lock');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${file}: ${(err as Error).message}; make it readable by the agent's user`);
  }
  return parseLockedInputs(text, file);
}

/** "name: abc1234 → def5678" for every input whose lock changed. */
export function lockChanges(before: LockedInput[], after: LockedInput[]): string[] {
  const old = new Map(before.map((i) => [i.name, i.locked]));
  const short = (s: string | undefined) => (s ? s.replace(/^sha256-/, '').slice(0, 7) : 'none');
  return after
    .filter((i) => old.get(i.name) !== i.locked)
    .map((i) => `${i.name}: ${short(old.get(i.name))} → ${short(i.locked)}`);
}
