// A host's build counts while an op builds, for its row: the latest `progress` the agent put on
// an output line (capability build-progress), dropped when the op ends. Agents send a line per
// change of the counts (bytes at most once a second), and the tree refresh is debounced, so the
// snapshot takes every one.
import { formatBytes, type BuildProgress, type OutputLine } from '../../protocol';
import type { FleetEvents } from './fleetEvents';
import type { HostRegistry } from './hostRegistry';

export function followBuildProgress(events: FleetEvents, registry: HostRegistry): () => void {
  const offOutput = events.onOutput.on((e) => {
    let progress: BuildProgress | undefined;
    for (const l of e.lines) if (l.progress) progress = l.progress;
    const rec = progress && registry.get(e.host);
    if (rec && progress) registry.update(rec, { building: { op: e.op, progress } });
  });
  const offEnd = events.onOpEnd.on((e) => {
    const rec = registry.get(e.host);
    if (rec?.snapshot.building?.op === e.op.id) registry.update(rec, { building: undefined });
  });
  return () => {
    offOutput();
    offEnd();
  };
}

/** "building 3/12 derivations, 45 MiB fetched": the counts as the host row and the progress notification say them. */
export function buildingText(p: BuildProgress): string {
  const parts = [`building ${p.built}/${p.toBuild} derivation${p.toBuild === 1 ? '' : 's'}${p.failed ? ` (${p.failed} failed)` : ''}`];
  if (p.copied || p.toCopy) parts.push(`${p.copied}/${p.toCopy} paths`);
  if (p.fetchedBytes) parts.push(`${formatBytes(p.fetchedBytes)} fetched`);
  return parts.join(', ');
}

const MESSAGE_CHARS = 90;

/**
 * The message of an op's progress notification: its latest build counts, when it builds, then
 * its latest log line, within MESSAGE_CHARS. Feed it every batch (also the ones not shown, so
 * the counts stay current); `text` is what to show now.
 */
export class OpProgressMessage {
  private counts: string | undefined;
  private line = '';

  accept(lines: readonly OutputLine[]): void {
    for (const l of lines) {
      if (l.progress) this.counts = buildingText(l.progress);
      else if (l.text.trim()) this.line = l.text.trim();
    }
  }

  get text(): string {
    const full = this.counts ? (this.line ? `${this.counts} · ${this.line}` : this.counts) : this.line;
    return full.length > MESSAGE_CHARS ? full.slice(0, MESSAGE_CHARS - 1) + '…' : full;
  }
}
