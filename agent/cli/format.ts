// Human-readable renderings for the terminal (`--json` prints the protocol objects instead).
import type { Generation, HostStatus, OpInfo } from '../../protocol';

export function formatStatus(s: HostStatus): string {
  const lines = [
    `host          ${s.host} (${s.platform}, switch method ${s.switchMethod})`,
    `agent         ${s.agentVersion}, Nix ${s.nixVersion}, up since ${s.startedAt}`,
    `generation    ${s.currentGeneration ?? 'none'}${s.currentRevision ? ` (revision ${s.currentRevision.slice(0, 12)})` : ''}`,
    `last working  ${s.lastKnownWorking ?? 'unknown'}`,
  ];
  if (s.lastChecks) lines.push(`checks        ${s.lastChecks.passed ? 'passed' : 'FAILED'} at ${s.lastChecks.at}`);
  if (s.checkout) {
    const c = s.checkout;
    const rel = c.ahead || c.behind ? `, ${c.ahead ?? 0} ahead, ${c.behind ?? 0} behind` : '';
    lines.push(`checkout      ${c.path} ${c.branch ?? '(detached)'} ${c.revision?.slice(0, 12) ?? ''}${c.dirty ? ' dirty' : ''}${rel}${c.error ? ` — ${c.error}` : ''}`);
  }
  lines.push(`busy          ${s.busy ? `${s.busy.kind} ${s.busy.op} since ${s.busy.since}` : 'no'}`);
  return lines.join('\n');
}

export function formatGenerations(gens: Generation[]): string {
  if (!gens.length) return 'no generations';
  return gens
    .map((g) => {
      const flags = [g.current ? 'current' : '', g.lastKnownWorking ? 'last-known-working' : '', g.present ? '' : 'garbage-collected']
        .filter(Boolean)
        .join(', ');
      const checks = g.checks ? (g.checks.passed ? 'checks passed' : 'checks FAILED') : '';
      return [String(g.generation).padStart(5), g.createdAt, g.systemVersion ?? '', g.revision?.slice(0, 12) ?? '', checks, flags ? `(${flags})` : '', g.path]
        .filter((x) => x !== '')
        .join('  ');
    })
    .join('\n');
}

export function formatOps(ops: OpInfo[]): string {
  if (!ops.length) return 'no ops recorded';
  return ops
    .map((o) => {
      const gens = o.result?.generationBefore !== undefined || o.result?.generationAfter !== undefined ? ` ${o.result?.generationBefore ?? '?'}→${o.result?.generationAfter ?? '?'}` : '';
      return `${o.startedAt}  ${o.state.padEnd(11)}  ${o.kind.padEnd(13)}  ${o.id}  ${o.client.auth}${gens}${o.error ? `  ${o.error}` : ''}`;
    })
    .join('\n');
}
