// The host list and each host's last status, kept from one session to the next, so the Fleet
// view lists every host (with its last known generation) the moment it opens instead of after
// the flake's evaluation. Stored through a KeyValueStore seam: VS Code's workspaceState
// (a Memento) in the extension, a Map in tests and benches. What is read back is validated
// host by host: a damaged entry is dropped, the others are kept.
import { z } from 'zod';
import { generation, hostName, hostStatus, platform } from '../../protocol';
import type { HostSnapshot } from './hostSnapshot';

/** What a Memento offers (vscode.Memento fits as is). */
export interface KeyValueStore {
  get(key: string): unknown;
  update(key: string, value: unknown): PromiseLike<void>;
}

export const MEMORY_KEY = 'nixfleet.lastSession';
/** Generations kept per host: enough for the view's first paint, bounded so the store stays small. */
export const REMEMBERED_GENERATIONS = 10;

const SOURCE_RE = /^[a-z][A-Za-z0-9:._-]{0,63}$/;

const rememberedHost = z.strictObject({
  name: hostName,
  platform,
  /** The source that listed it ("settings", "flake:nixosConfigurations", "broker"). */
  source: z.string().regex(SOURCE_RE),
  discoveredIn: z.string().max(64).optional(),
  /** It had an agent configured: shown "connecting…" (not "no agent") while its source is awaited. */
  hadAgent: z.boolean(),
  agentVersion: z.string().max(64).optional(),
  lastSeen: z.string().datetime({ offset: true }).optional(),
  status: hostStatus.optional(),
  generations: z.array(generation).max(REMEMBERED_GENERATIONS).optional(),
});
export type RememberedHost = z.infer<typeof rememberedHost>;

const stored = z.strictObject({ version: z.literal(1), hosts: z.array(z.unknown()).max(10_000) });

/** The remembered hosts, each validated on its own; nothing (not an error) when there is none. */
export function readMemory(store: KeyValueStore): RememberedHost[] {
  const top = stored.safeParse(store.get(MEMORY_KEY));
  if (!top.success) return [];
  return top.data.hosts.flatMap((h) => {
    const r = rememberedHost.safeParse(h);
    return r.success ? [r.data] : [];
  });
}

/** What memoryOf reads of the host registry (hostRegistry.ts imports this file: no loop back). */
export interface RegistryView {
  all(): Iterable<{ snapshot: HostSnapshot }>;
  source(name: string): string | undefined;
  answered(source: string): boolean;
}

/** What to remember of the registry now: hosts whose source answered, and stand-ins as they were. */
export function memoryOf(registry: RegistryView, previous: readonly RememberedHost[]): RememberedHost[] {
  const before = new Map(previous.map((h) => [h.name, h]));
  const out: RememberedHost[] = [];
  for (const { snapshot: s } of registry.all()) {
    const source = registry.source(s.name);
    if (!source || !SOURCE_RE.test(source)) continue;
    const old = before.get(s.name);
    // A stand-in has nothing new: keep last session's record of it.
    if (!registry.answered(source)) {
      if (old) out.push(old);
      continue;
    }
    const generations = s.generations ? [...s.generations].sort((a, b) => b.generation - a.generation).slice(0, REMEMBERED_GENERATIONS) : undefined;
    const candidate = {
      name: s.name,
      platform: s.platform,
      source,
      discoveredIn: s.discoveredIn,
      hadAgent: !!s.entry,
      agentVersion: s.agentVersion,
      lastSeen: s.lastSeen,
      status: s.status,
      generations,
    };
    // Only what would read back: an agent's odd answer must not make the whole list unreadable.
    const r = rememberedHost.safeParse(JSON.parse(JSON.stringify(candidate)));
    if (r.success) out.push(r.data);
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export async function writeMemory(store: KeyValueStore, hosts: readonly RememberedHost[]): Promise<void> {
  await store.update(MEMORY_KEY, { version: 1, hosts });
}
