// Host tags from the flake: the output `nixfleetTags.<host> = [ "web" "eu" ];` (a plain
// attribute set of string lists, so reading it evaluates nothing of the hosts' systems).
// Evaluating the flake runs the workspace's Nix code: callers do this only in a trusted
// workspace, as discovery does.
import { execa } from 'execa';
import { HOST_NAME_RE, printable } from '../../protocol';
import { TAG_RE } from '../fleet/hostConfig';

export const FLAKE_TAGS_ATTRIBUTE = 'nixfleetTags';

export interface FlakeTags {
  tags: Record<string, string[]>;
  /** Entries that were ignored, one sentence each (a bad tag, not a list, …). */
  warnings: string[];
}

/** Validate `nixfleetTags` as evaluated; bad entries are dropped with a warning, never used. */
export function parseFlakeTags(value: unknown): FlakeTags {
  const tags: Record<string, string[]> = {};
  const warnings: string[] = [];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { tags, warnings: [`${FLAKE_TAGS_ATTRIBUTE} must be an attribute set of host name → list of tags; it was ignored`] };
  }
  for (const [host, list] of Object.entries(value as Record<string, unknown>)) {
    if (!HOST_NAME_RE.test(host)) {
      warnings.push(`${FLAKE_TAGS_ATTRIBUTE}."${printable(host)}" is not a host name; ignored`);
      continue;
    }
    if (!Array.isArray(list)) {
      warnings.push(`${FLAKE_TAGS_ATTRIBUTE}.${host} must be a list of tags; ignored`);
      continue;
    }
    for (const t of list) {
      if (typeof t === 'string' && TAG_RE.test(t)) (tags[host] ??= []).includes(t) || tags[host]!.push(t);
      else warnings.push(`${FLAKE_TAGS_ATTRIBUTE}.${host}: "${printable(String(t))}" is not a tag (letters, digits, ".", "_", "-"); ignored`);
    }
  }
  return { tags, warnings };
}

/** `nix eval --json <flake>#nixfleetTags`; a flake without the output has no tags (not an error). */
export async function readFlakeTags(flakeDir: string, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<FlakeTags> {
  const r = await execa('nix', ['--extra-experimental-features', 'nix-command flakes', 'eval', '--json', `${flakeDir}#${FLAKE_TAGS_ATTRIBUTE}`], {
    reject: false,
    cancelSignal: opts.signal,
    timeout: opts.timeoutMs ?? 60_000,
    stdin: 'ignore',
  });
  if (r.exitCode !== 0) {
    const stderr = String(r.stderr ?? '');
    if (/does not provide attribute/.test(stderr)) return { tags: {}, warnings: [] };
    const why = stderr.trim().split('\n').at(-1) ?? `exit ${r.exitCode}`;
    throw new Error(`could not read ${FLAKE_TAGS_ATTRIBUTE} from the flake: ${printable(why, 300)}; check that "nix eval .#${FLAKE_TAGS_ATTRIBUTE}" works in a terminal`);
  }
  try {
    return parseFlakeTags(JSON.parse(String(r.stdout)));
  } catch {
    throw new Error(`nix eval .#${FLAKE_TAGS_ATTRIBUTE} printed something that is not JSON; check the flake's ${FLAKE_TAGS_ATTRIBUTE} output`);
  }
}
