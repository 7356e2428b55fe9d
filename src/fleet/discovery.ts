// Hosts declared by the workspace flake. Runs `nix eval` (argv, no shell) only when asked:
// evaluating the flake runs the workspace's Nix code, so callers do this only in a trusted
// workspace, after the view is shown.
import { setPriority } from 'node:os';
import { execa } from 'execa';
import type { Platform } from '../../protocol';
import { HOST_NAME_RE, printable } from '../../protocol';

export interface DiscoveredHost {
  name: string;
  platform: Platform;
  /** e.g. nixosConfigurations */
  attribute: string;
}

export const FLAKE_ATTRIBUTES: ReadonlyArray<{ attribute: string; platform: Platform }> = [
  { attribute: 'nixosConfigurations', platform: 'nixos' },
  { attribute: 'darwinConfigurations', platform: 'darwin' },
  { attribute: 'homeConfigurations', platform: 'home-manager' },
];

/** Niceness of the `nix eval` processes (background work; the agents' answers come first). */
const EVAL_NICENESS = 10;

export interface DiscoveryResult {
  hosts: DiscoveredHost[];
  /** Evaluation failures, one per attribute that could not be read. */
  errors: string[];
}

function missingAttribute(stderr: string): boolean {
  return /does not provide attribute/.test(stderr);
}

/** One attribute's answer, as soon as its evaluation ends (the others may still run). */
export interface AttributeResult {
  attribute: string;
  hosts: DiscoveredHost[];
  error: string | undefined;
}

/**
 * The flake's hosts: the three attributes are evaluated side by side, and `onAttribute` hears
 * each one as it ends, so its hosts can be shown without waiting for the slowest evaluation.
 */
export async function discoverFlakeHosts(
  flakeDir: string,
  opts: { signal?: AbortSignal; nix?: string; timeoutMs?: number; onAttribute?: (r: AttributeResult) => void } = {},
): Promise<DiscoveryResult> {
  const nix = opts.nix ?? 'nix';
  const results = await Promise.all(
    FLAKE_ATTRIBUTES.map(async ({ attribute, platform }) => {
      const r = await evaluate(attribute, platform);
      opts.onAttribute?.({ attribute, ...r });
      return r;
    }),
  );
  return {
    hosts: results.flatMap((r) => r.hosts),
    errors: results.flatMap((r) => (r.error ? [r.error] : [])),
  };

  async function evaluate(attribute: string, platform: Platform): Promise<{ hosts: DiscoveredHost[]; error: string | undefined }> {
    const child = execa(
      nix,
      // Flakes may not be enabled in the user's nix.conf: enable them for this call only
      // (keeping any NIX_CONFIG the user has).
      ['--extra-experimental-features', 'nix-command flakes', 'eval', '--json', `${flakeDir}#${attribute}`, '--apply', 'builtins.attrNames'],
      { reject: false, cancelSignal: opts.signal, timeout: opts.timeoutMs ?? 60_000, stdin: 'ignore' },
    );
    // Evaluation runs beside the agents' first answers, which the view waits for: it yields the CPU to them.
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, EVAL_NICENESS);
      } catch {
        // Not permitted here: it only runs at the usual priority.
      }
    }
    const r = await child;
    if (r.exitCode === 0) {
      let names: unknown;
      try {
        names = JSON.parse(String(r.stdout));
      } catch {
        return { hosts: [], error: `nix eval ${attribute}: output is not JSON` };
      }
      if (!Array.isArray(names)) return { hosts: [], error: `nix eval ${attribute}: expected a list of names` };
      const hosts: DiscoveredHost[] = [];
      for (const n of names) {
        if (typeof n === 'string' && HOST_NAME_RE.test(n)) hosts.push({ name: n, platform, attribute });
      }
      return { hosts, error: undefined };
    }
    const stderr = String(r.stderr ?? '');
    if (missingAttribute(stderr)) return { hosts: [], error: undefined };
    const why = r.isCanceled ? 'cancelled' : r.timedOut ? 'timed out' : (lastErrorLine(stderr) || r.shortMessage || `exit ${r.exitCode}`);
    return { hosts: [], error: `could not list ${attribute} of the workspace flake: ${printable(why, 300)}; check that "nix eval .#${attribute}" works in a terminal` };
  }
}

function lastErrorLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const err = lines.find((l) => l.startsWith('error:'));
  return err ?? lines[lines.length - 1] ?? '';
}
