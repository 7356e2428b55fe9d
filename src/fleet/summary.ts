// The status bar's one-line summary of the fleet.
import { hostDrift } from './drift';
import type { HostSnapshot } from './hostSnapshot';

export interface FleetSummary {
  text: string;
  tooltip: string;
  level: 'ok' | 'warn' | 'error';
}

export function summarise(hosts: readonly HostSnapshot[]): FleetSummary {
  const withAgent = hosts.filter((h) => h.connection !== 'unconfigured');
  const online = withAgent.filter((h) => h.connection === 'online');
  // Failing: what drift.ts calls an error (an op failed, tests failed, it runs something else than its profile).
  const errors = new Map(withAgent.map((h) => [h.name, hostDrift(h).filter((d) => d.level === 'error')]));
  const failing = withAgent.filter((h) => errors.get(h.name)!.length > 0);
  const offline = withAgent.filter((h) => h.connection === 'offline');
  const busy = online.filter((h) => h.runningOps.length > 0 || h.status?.busy);
  if (withAgent.length === 0) {
    return { text: hosts.length ? `${hosts.length} hosts, no agent configured` : 'no hosts', tooltip: 'NixFleet: add a host with "NixFleet: Add Host"', level: 'warn' };
  }
  let text = `${online.length}/${withAgent.length} online`;
  if (failing.length) text += `, ${failing.length} failing`;
  if (busy.length) text += `, ${busy.length} busy`;
  const lines = [
    `NixFleet: ${online.length} of ${withAgent.length} hosts online`,
    ...offline.map((h) => `offline: ${h.name}${h.problem ? ` (${h.problem})` : ''}`),
    ...failing.map((h) => `failing: ${h.name} (${errors.get(h.name)!.map((d) => d.short).join(', ')})`),
    ...busy.map((h) => `busy: ${h.name}`),
  ];
  return { text, tooltip: lines.join('\n'), level: failing.length || offline.length ? (failing.length ? 'error' : 'warn') : 'ok' };
}
