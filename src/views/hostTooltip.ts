// The hover of a host row: what a user checks before acting on a host, in one place —
// platform, address and transport, agent and Nix versions, the running generation (date,
// commit, tests), what drifted and its fix, the last op and how it ended, and why the host is
// offline. Built as
// Markdown text with no vscode import, so the rules are unit-tested; hostNode.ts wraps it.
import type { OpInfo } from '../../protocol';
import type { Drift } from '../fleet/drift';
import { testsText } from '../fleet/generations';
import type { HostSnapshot } from '../fleet/hostSnapshot';
import { formatTime, shortRev } from '../fleet/statusRows';
import { BROKER_ADDRESS } from '../fleet/hostConfig';

export const PLATFORM_LABEL = { nixos: 'NixOS', darwin: 'nix-darwin', 'home-manager': 'home-manager' } as const;

/** Text shown as is: Markdown's punctuation escaped, one line. */
export function mdText(s: string): string {
  return s.replace(/\s+/g, ' ').replace(/[\\`*_{}[\]()#+\-.!|<>~]/g, (c) => `\\${c}`);
}

/** A value in a code span (addresses, commits, paths). */
function code(s: string): string {
  return `\`${s.replace(/`/g, "'").replace(/\s+/g, ' ')}\``;
}

function transportOf(address: string): string {
  if (/^wss:\/\//.test(address)) return 'WebSocket over TLS';
  if (/^ws:\/\//.test(address)) return 'WebSocket';
  if (/^ssh:\/\//.test(address)) return 'ssh, the agent over stdio';
  if (address === BROKER_ADDRESS) return 'through the NATS broker of nixfleet.broker';
  return 'unknown transport';
}

const CONNECTION = { online: 'online', connecting: 'connecting…', offline: 'offline', unconfigured: 'no agent configured' } as const;

function opLine(op: OpInfo): string {
  const when = formatTime(op.endedAt ?? op.startedAt);
  const gens = op.result?.generationBefore !== undefined && op.result.generationAfter !== undefined && op.result.generationBefore !== op.result.generationAfter
    ? `, generation ${op.result.generationBefore} → ${op.result.generationAfter}`
    : '';
  const why = op.state !== 'succeeded' && op.error ? `: ${mdText(op.error)}` : '';
  return `${mdText(op.kind)} **${op.state}** ${mdText(when)} by ${mdText(op.client.name)}${gens}${why}`;
}

/** `drifts`: the host's drifts, worst first (fleet/drift.ts), as the row's icon and rows show them. */
export function hostTooltipMarkdown(s: HostSnapshot, trusted: boolean, drifts: readonly Drift[] = []): string {
  const lines: string[] = [];
  const busy = s.runningOps[0];
  lines.push(`**${mdText(s.name)}** — ${PLATFORM_LABEL[s.platform]}, ${CONNECTION[s.connection]}`);
  const facts: string[] = [];
  if (s.entry) facts.push(`**Address**: ${code(s.entry.address)} (${transportOf(s.entry.address)})`);
  else facts.push(`**Agent**: none configured; the host is in the workspace flake (${mdText(s.discoveredIn ?? 'flake')}). Use *Add Host* to give its agent's address.`);
  if (s.discoveredIn && s.entry) facts.push(`**Flake**: ${code(`${s.discoveredIn}.${s.name}`)}`);
  const version = s.agentVersion ?? s.status?.agentVersion;
  if (s.entry) {
    const agent = [version ? `agent ${mdText(version)}` : 'agent version not known yet'];
    if (s.status) agent.push(`Nix ${mdText(s.status.nixVersion)}`, `switches with ${mdText(s.status.switchMethod)}`);
    facts.push(`**Agent**: ${agent.join(' · ')}`);
  }
  if (s.connection === 'offline') facts.push(`**Offline**: ${mdText(s.problem ?? 'the agent does not answer')}${s.lastSeen ? ` (last seen ${mdText(formatTime(s.lastSeen))}; below is its last known state)` : ' (never reached)'}`);
  else if (s.connection === 'connecting' && s.status) facts.push(`**Last known** (${s.lastSeen ? mdText(formatTime(s.lastSeen)) : 'earlier'}): waiting for the agent's answer`);
  const current = s.generations?.find((g) => g.current);
  if (current) {
    const rev = current.revision ?? s.status?.currentRevision;
    facts.push(`**Generation**: ${current.generation}, built ${mdText(formatTime(current.createdAt))} from ${rev ? `commit ${code(shortRev(rev))}` : 'an unrecorded commit'} · ${testsText(current)}`);
  } else if (s.status?.currentGeneration !== undefined) {
    const rev = s.status.currentRevision;
    facts.push(`**Generation**: ${s.status.currentGeneration}${rev ? ` from commit ${code(shortRev(rev))}` : ''}`);
  } else if (s.entry && s.connection === 'online') {
    facts.push('**Generation**: none in the profile yet');
  }
  if (busy) facts.push(`**Running**: ${mdText(busy.kind)} since ${mdText(formatTime(busy.startedAt))} by ${mdText(busy.client.name)}`);
  else if (s.status?.busy) facts.push(`**Running**: ${mdText(s.status.busy.kind)} since ${mdText(formatTime(s.status.busy.since))}`);
  for (const d of drifts) facts.push(`**Drift**: ${mdText(d.short)}: ${mdText(d.detail)}${d.fix ? ` (the row under the host runs *${mdText(d.fix.title)}*)` : ''}`);
  if (s.lastOp) facts.push(`**Last op**: ${opLine(s.lastOp)}`);
  else if (s.entry && s.connection === 'online') facts.push('**Last op**: none recorded on this host');
  if (s.problem && s.connection === 'online') facts.push(`**Problem**: ${mdText(s.problem)}`);
  lines.push(facts.map((f) => `- ${f}`).join('\n'));
  if (!trusted) lines.push('*Read-only: this workspace is not trusted.*');
  return lines.join('\n\n');
}
