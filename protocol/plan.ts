// What a host would do if it switched to a target, without switching: the result of the
// agent's `build` op (the plan step of every deploy), and the build progress the agent
// reads from Nix's machine-readable log while it builds. Both sides import these schemas.
import { z } from 'zod';

/** A package whose version the switch would change, from `nix store diff-closures`. */
export const packageChange = z.strictObject({
  name: z.string().max(256),
  /** Versions before and after; empty for added (before) or removed (after). */
  from: z.array(z.string().max(128)).max(64),
  to: z.array(z.string().max(128)).max(64),
  change: z.enum(['added', 'removed', 'upgraded', 'downgraded', 'changed']),
});
export type PackageChange = z.infer<typeof packageChange>;

export const UNIT_ACTIONS = ['stop', 'restart', 'reload', 'start'] as const;
export type UnitAction = (typeof UNIT_ACTIONS)[number];

/**
 * What the activation would do. NixOS: the units `switch-to-configuration dry-activate`
 * names. nix-darwin and home-manager have no such dry run: `known: false` with the reason.
 */
export const activationPlan = z.discriminatedUnion('known', [
  z.strictObject({
    known: z.literal(true),
    units: z.strictObject({
      stop: z.array(z.string().max(256)).max(4096),
      restart: z.array(z.string().max(256)).max(4096),
      reload: z.array(z.string().max(256)).max(4096),
      start: z.array(z.string().max(256)).max(4096),
    }),
    /** dry-activate's other "would …" lines (e.g. "would restart systemd"). */
    notes: z.array(z.string().max(512)).max(64),
  }),
  z.strictObject({ known: z.literal(false), reason: z.string().max(512) }),
]);
export type ActivationPlan = z.infer<typeof activationPlan>;

export const hostPlan = z.strictObject({
  /** The target builds exactly the current generation's store path: nothing to deploy. */
  noChange: z.boolean(),
  /** Store path the target builds, and the current generation's (absent on a host without one). */
  storePath: z.string().max(512),
  currentStorePath: z.string().max(512).optional(),
  packages: z.array(packageChange).max(4096),
  /** Closure sizes in bytes (`nix path-info -S`), and new minus current. */
  closureBytes: z.number().int().min(0),
  currentClosureBytes: z.number().int().min(0).optional(),
  closureBytesChange: z.number().int().optional(),
  activation: activationPlan,
});
export type HostPlan = z.infer<typeof hostPlan>;

/**
 * Build progress, read from `nix … --log-format internal-json` (Nix 2.8 and newer). Carried
 * on a journal line (`progress`) next to a readable text, so it replays with the journal.
 */
export const buildProgress = z.strictObject({
  /** Derivations built so far / to build in this build (Nix's "builds" activity). */
  built: z.number().int().min(0),
  toBuild: z.number().int().min(0),
  running: z.number().int().min(0),
  failed: z.number().int().min(0),
  /** Store paths copied (substituted) so far / to copy. */
  copied: z.number().int().min(0),
  toCopy: z.number().int().min(0),
  /** Bytes downloaded so far, and expected when Nix knows it. */
  fetchedBytes: z.number().int().min(0),
  toFetchBytes: z.number().int().min(0),
});
export type BuildProgress = z.infer<typeof buildProgress>;

/** "3/10 derivations built, 1.2 MiB of 4.0 MiB fetched": the text of a progress line. */
export function describeBuildProgress(p: BuildProgress): string {
  const parts = [`${p.built}/${p.toBuild} derivation${p.toBuild === 1 ? '' : 's'} built${p.failed ? `, ${p.failed} failed` : ''}`];
  if (p.toCopy || p.copied) parts.push(`${p.copied}/${p.toCopy} paths fetched`);
  if (p.fetchedBytes || p.toFetchBytes) parts.push(`${formatBytes(p.fetchedBytes)}${p.toFetchBytes ? ` of ${formatBytes(p.toFetchBytes)}` : ''} downloaded`);
  return `build progress: ${parts.join(', ')}`;
}

/** 1536 → "1.5 KiB"; negative sizes keep their sign. */
export function formatBytes(n: number): string {
  const sign = n < 0 ? '-' : '';
  let v = Math.abs(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${sign}${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
