// The plan of a switch, made after the build and before anything is activated: which
// package versions change (from the closure diff the build op already computes), how the
// closure size changes, and which units NixOS would stop/restart/reload/start
// (`switch-to-configuration dry-activate`). nix-darwin and home-manager have no dry run of
// their activation, so the plan says "not known" there rather than guessing.
import type { ActivationPlan, HostPlan, PackageChange, Platform, UnitAction } from '../../protocol';
import { UNIT_ACTIONS } from '../../protocol';
import { CommandError } from '../exec';
import { OpError } from '../ops/types';
import type { NixContext } from './system';

const NONE = '∅';
const EMPTY_VERSION = 'ε';
/** The size part diff-closures appends: ", +12.3 KiB" (with colour codes already stripped). */
const SIZE_SUFFIX = /,\s*[+-]?\d+(\.\d+)?\s*KiB$/;

/** Compare two version strings segment by segment (numbers numerically), as Nix orders them roughly. */
export function compareVersions(a: string, b: string): number {
  const seg = (v: string) => v.split(/[.\-_+]/).filter((s) => s.length > 0);
  const x = seg(a);
  const y = seg(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i];
    const q = y[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) {
      const d = Number(p) - Number(q);
      if (d !== 0) return d < 0 ? -1 : 1;
    } else if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}

function versions(text: string): string[] {
  const t = text.trim();
  if (t === NONE) return [];
  return t.split(', ').map((v) => (v === EMPTY_VERSION ? '' : v));
}

/**
 * Package version changes out of `nix store diff-closures` lines
 * ("openssl: 3.0.2 → 3.0.3, +12.3 KiB", "hello: ∅ → 2.12.1", "foo: 1.0 → ∅").
 * Lines that only change size are not version changes and are left out.
 */
export function packageChanges(diffLines: readonly string[]): PackageChange[] {
  const out: PackageChange[] = [];
  for (const raw of diffLines) {
    const line = raw.trim();
    const colon = line.indexOf(': ');
    if (colon <= 0) continue;
    const name = line.slice(0, colon);
    const rest = line.slice(colon + 2).replace(SIZE_SUFFIX, '');
    const arrow = rest.indexOf(' → ');
    if (arrow < 0) continue;
    const from = versions(rest.slice(0, arrow));
    const to = versions(rest.slice(arrow + 3));
    let change: PackageChange['change'];
    if (from.length === 0) change = 'added';
    else if (to.length === 0) change = 'removed';
    else {
      const newest = (vs: string[]) => [...vs].sort(compareVersions).at(-1)!;
      const c = compareVersions(newest(from), newest(to));
      change = c < 0 ? 'upgraded' : c > 0 ? 'downgraded' : 'changed';
    }
    out.push({ name: name.slice(0, 256), from: from.slice(0, 64), to: to.slice(0, 64), change });
  }
  return out;
}

/**
 * The units out of `switch-to-configuration dry-activate` output. NixOS prints (Perl and
 * the Rust switch-to-configuration-ng alike) "would stop the following units: a, b",
 * "would restart …", "would reload …", "would start …", plus lines such as
 * "would NOT stop the following changed units: …" and "would restart systemd".
 */
export function parseDryActivate(lines: readonly string[]): Extract<ActivationPlan, { known: true }> {
  const units: Record<UnitAction, string[]> = { stop: [], restart: [], reload: [], start: [] };
  const notes: string[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    const m = /^would (stop|restart|reload|start) the following units: (.*)$/.exec(line);
    if (m) {
      const list = units[m[1] as UnitAction];
      for (const u of m[2]!.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) if (!list.includes(u)) list.push(u.slice(0, 256));
    } else if (line.startsWith('would ') && notes.length < 64) notes.push(line.slice(0, 512));
  }
  for (const a of UNIT_ACTIONS) units[a].sort();
  return { known: true, units, notes };
}

const NOT_KNOWN: Record<Exclude<Platform, 'nixos'>, string> = {
  darwin: 'nix-darwin has no dry run of its activation: which launchd services restart is not known before the switch',
  'home-manager': 'home-manager has no dry run of its activation that is safe to run unattended: what it restarts is not known before the switch',
};

/** What activating `storePath` would do, as far as the platform can tell without doing it. */
export async function dryActivate(ctx: NixContext, storePath: string): Promise<ActivationPlan> {
  const platform = ctx.config.platform;
  if (platform !== 'nixos') return { known: false, reason: NOT_KNOWN[platform] };
  const seen: string[] = [];
  try {
    // dry-activate writes its "would …" lines to stderr; both streams still go to the journal.
    await ctx.run([`${storePath}/bin/switch-to-configuration`, 'dry-activate'], { onLine: (_s, text) => void seen.push(text) });
    return parseDryActivate(seen);
  } catch (err) {
    const why = err instanceof CommandError ? err.message : (err as Error).message;
    return { known: false, reason: `switch-to-configuration dry-activate failed (${why.slice(0, 300)}): which units would change is not known` };
  }
}

/** Closure sizes in bytes (`nix path-info -S --json`), keyed by store path. Nix 2.8 answers a list, Nix ≥ 2.19 an object. */
export async function closureSizes(ctx: NixContext, paths: readonly string[]): Promise<Map<string, number>> {
  let stdout: string;
  try {
    stdout = (await ctx.run(['nix', 'path-info', '--json', '-S', ...paths], { capture: true, quietStdout: true })).stdout;
  } catch (err) {
    throw new OpError(`host ${ctx.config.host}: reading the closure size of ${paths.join(' and ')} failed (${(err as Error).message}); check that the store paths exist, then plan again`);
  }
  const sizes = new Map<string, number>();
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new OpError(`host ${ctx.config.host}: nix path-info --json printed something that is not JSON; plan again, or report this Nix version`);
  }
  const entries: [string, unknown][] = Array.isArray(parsed)
    ? parsed.map((e) => [String((e as { path?: unknown }).path), e])
    : Object.entries(parsed as Record<string, unknown>);
  for (const [p, info] of entries) {
    const size = (info as { closureSize?: unknown } | null)?.closureSize;
    if (typeof size === 'number' && Number.isInteger(size) && size >= 0) sizes.set(p, size);
  }
  for (const p of paths) if (!sizes.has(p)) throw new OpError(`host ${ctx.config.host}: nix path-info did not report the closure size of ${p}; plan again`);
  return sizes;
}

/** The whole plan for switching from `current` (the profile's store path, if any) to `storePath`. */
export async function planSwitch(ctx: NixContext, storePath: string, current: string | undefined, diff: readonly string[]): Promise<HostPlan> {
  const noChange = current === storePath;
  const sizes = await closureSizes(ctx, current && !noChange ? [storePath, current] : [storePath]);
  const closureBytes = sizes.get(storePath)!;
  const currentClosureBytes = current ? (noChange ? closureBytes : sizes.get(current)) : undefined;
  const activation: ActivationPlan = noChange
    ? { known: true, units: { stop: [], restart: [], reload: [], start: [] }, notes: [] }
    : await dryActivate(ctx, storePath);
  return {
    noChange,
    storePath,
    ...(current ? { currentStorePath: current } : {}),
    packages: packageChanges(diff),
    closureBytes,
    ...(currentClosureBytes !== undefined ? { currentClosureBytes, closureBytesChange: closureBytes - currentClosureBytes } : {}),
    activation,
  };
}
