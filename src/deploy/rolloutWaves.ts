// Turning what the user asked for ("h1", "tag:web", "25%", repeated --wave) into the
// rollout's waves. Pure: the host order, the tags and the specs in, the waves out.
import { hostName, printable } from '../../protocol';
import { TAG_RE, type HostEntry } from '../fleet/hostConfig';

export class WaveSpecError extends Error {
  override name = 'WaveSpecError';
}

/** One wave as asked: comma-separated host names, `tag:NAME`, or `N%` of the hosts not yet in a wave. */
export type WaveSelector = { kind: 'host'; host: string } | { kind: 'tag'; tag: string } | { kind: 'percent'; percent: number };

/** Parse "h1,h2", "tag:web", "25%" or a mix ("h1,tag:db"); errors name the part and what to write. */
export function parseWaveSpec(spec: string): WaveSelector[] {
  const parts = spec.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => p.length === 0)) throw new WaveSpecError(`wave "${printable(spec)}" has an empty part: write host names, tag:NAME or N% separated by commas`);
  return parts.map((p): WaveSelector => {
    if (p.startsWith('tag:')) {
      const tag = p.slice(4);
      if (!TAG_RE.test(tag)) throw new WaveSpecError(`"${printable(p)}" is not a tag: write tag:NAME with letters, digits, ".", "_" or "-"`);
      return { kind: 'tag', tag };
    }
    const pct = /^(\d{1,3})%$/.exec(p);
    if (pct) {
      const percent = Number(pct[1]);
      if (percent < 1 || percent > 100) throw new WaveSpecError(`"${p}" is not a percentage from 1% to 100%`);
      return { kind: 'percent', percent };
    }
    if (!hostName.safeParse(p).success) throw new WaveSpecError(`"${printable(p)}" is not a host name, tag:NAME or N%`);
    return { kind: 'host', host: p };
  });
}

export interface ResolvedWave {
  name: string;
  hosts: string[];
}

/**
 * The waves over `hosts` (in deploy order): canaries first (one wave, when any are among the
 * hosts), then each spec in order, taking only hosts not yet in a wave; a percentage is of the
 * hosts left at that point, rounded up. Hosts no spec took form a last wave "the rest".
 * A host or tag that matches nothing chosen is an error (a typo would silently skip a wave).
 */
export function resolveWaves(o: { hosts: readonly string[]; canaries?: readonly string[]; specs: readonly string[]; tags?: Readonly<Record<string, readonly string[]>> }): ResolvedWave[] {
  const chosen = new Set(o.hosts);
  const taken = new Set<string>();
  const waves: ResolvedWave[] = [];
  const canaries = (o.canaries ?? []).filter((c, i, all) => chosen.has(c) && all.indexOf(c) === i);
  if (canaries.length) {
    waves.push({ name: 'canaries', hosts: canaries });
    canaries.forEach((c) => taken.add(c));
  }
  for (const spec of o.specs) {
    const wave: string[] = [];
    const add = (h: string) => {
      if (!taken.has(h)) {
        taken.add(h);
        wave.push(h);
      }
    };
    for (const sel of parseWaveSpec(spec)) {
      if (sel.kind === 'host') {
        if (!chosen.has(sel.host)) throw new WaveSpecError(`wave "${printable(spec)}" names host ${sel.host}, which is not among the hosts chosen for this deploy`);
        add(sel.host);
      } else if (sel.kind === 'tag') {
        const tagged = o.hosts.filter((h) => o.tags?.[h]?.includes(sel.tag));
        if (tagged.length === 0) throw new WaveSpecError(`no chosen host has tag ${sel.tag} (wave "${printable(spec)}"): tag hosts in nixfleet.hosts (tags) or the flake's nixfleetTags`);
        tagged.forEach(add);
      } else {
        const left = o.hosts.filter((h) => !taken.has(h));
        left.slice(0, Math.ceil((left.length * sel.percent) / 100)).forEach(add);
      }
    }
    if (wave.length) waves.push({ name: spec, hosts: wave });
  }
  const rest = o.hosts.filter((h) => !taken.has(h));
  if (rest.length) waves.push({ name: waves.length ? 'the rest' : 'all hosts', hosts: rest });
  return waves;
}

/** Tags per host from the `nixfleet.hosts` entries. */
export function entryTags(entries: readonly Pick<HostEntry, 'name' | 'tags'>[]): Record<string, string[]> {
  return Object.fromEntries(entries.filter((e) => e.tags?.length).map((e) => [e.name, [...e.tags!]]));
}

/** Tags per host: the settings' `tags` and the flake's, merged (each listed once). */
export function mergeTags(...sources: Readonly<Record<string, readonly string[]>>[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const src of sources) for (const [h, tags] of Object.entries(src)) for (const t of tags) if (!(out[h] ??= []).includes(t)) out[h]!.push(t);
  return out;
}

/** "30s", "5m", "1h", "90" (seconds) → milliseconds; the CLI's --soak and the setting. */
export function parseDuration(text: string): number {
  const m = /^(\d{1,6})(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new WaveSpecError(`"${printable(text)}" is not a duration: write e.g. 30s, 5m or 1h`);
  const n = Number(m[1]);
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}
