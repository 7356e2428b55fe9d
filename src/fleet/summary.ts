// The status bar's one-line summary of the fleet.
import { isFailing, type HostSnapshot } from './hostSnapshot';

export interface FleetSummary {
  text: string;
  tooltip: string;
  level: 'ok' | 'warn' | 'error';
}

export function summarise(hosts: readonly HostSnapshot[]): FleetSummary {
  const withAgent = hosts.filter((h) => h.connection !== 'unconfigured');
  const online = withAgent.filter((h) => h.connection === 'online');
  const failing = withAgent.filter(isFailing);
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
    ...failing.map((h) => `failing: ${h.name}`),
    ...busy.map((h) => `busy: ${h.name}`),
  ];
  return { text, tooltip: lines.join('\n'), level: failing.length || offline.length ? (failing.length ? 'error' : 'warn') : 'ok' };
}
