// The status rows shown under a host: Agent, Git, Lock, System, Tests. Pure: the view only
// renders what this returns, so every rule here is unit-tested.
import type { HostSnapshot } from './hostSnapshot';
import { normaliseHash, type WorkspaceInfo } from './workspace';

export type RowLevel = 'ok' | 'warn' | 'error' | 'unknown';
export type RowKind = 'agent' | 'git' | 'lock' | 'system' | 'tests';

export interface StatusRow {
  kind: RowKind;
  label: string;
  value: string;
  level: RowLevel;
  tooltip: string;
}

export const shortRev = (rev: string | undefined): string => (rev ? rev.slice(0, 7) : 'unknown');

export function agentRow(s: HostSnapshot): StatusRow {
  switch (s.connection) {
    case 'online':
      return {
        kind: 'agent',
        label: 'Agent',
        value: `online · ${s.agentVersion ?? s.status?.agentVersion ?? '?'}`,
        level: 'ok',
        tooltip: `Agent ${s.agentVersion ?? ''} on ${s.name} (${s.platform}), Nix ${s.status?.nixVersion ?? '?'}, switch method ${s.status?.switchMethod ?? '?'}${s.entry ? `\nAddress: ${s.entry.address}` : ''}`,
      };
    case 'connecting':
      return { kind: 'agent', label: 'Agent', value: 'connecting…', level: 'unknown', tooltip: `Connecting to ${s.entry?.address ?? s.name}` };
    case 'unconfigured':
      return {
        kind: 'agent',
        label: 'Agent',
        value: 'no agent configured',
        level: 'unknown',
        tooltip: `${s.name} is in the workspace flake (${s.discoveredIn ?? 'flake'}) but not in nixfleet.hosts. Use "Add Host" to give its agent's address.`,
      };
    case 'offline':
      return {
        kind: 'agent',
        label: 'Agent',
        value: `offline${s.problem ? ': ' + s.problem : ''}`,
        level: 'error',
        tooltip: `${s.problem ?? 'The agent does not answer.'}${s.lastSeen ? `\nLast seen ${s.lastSeen}; the rows below are its last known state.` : '\nNever reached.'}`,
      };
  }
}

export function gitRow(s: HostSnapshot, ws?: WorkspaceInfo): StatusRow | undefined {
  const c = s.status?.checkout;
  if (!c) return undefined;
  if (c.error) return { kind: 'git', label: 'Git', value: `error: ${c.error}`, level: 'error', tooltip: `Checkout ${c.path}: ${c.error}` };
  const parts: string[] = [];
  let level: RowLevel = 'ok';
  if (c.behind === undefined && c.ahead === undefined) {
    parts.push('no upstream');
    level = 'unknown';
  } else if (!c.behind && !c.ahead) {
    parts.push('up to date with origin');
  } else {
    // "3 behind origin", "1 ahead of origin", "3 behind, 1 ahead of origin".
    if (c.behind && c.ahead) parts.push(`${c.behind} behind, ${c.ahead} ahead of origin`);
    else if (c.behind) parts.push(`${c.behind} behind origin`);
    else parts.push(`${c.ahead} ahead of origin`);
    level = 'warn';
  }
  if (c.dirty) {
    parts.push('uncommitted changes');
    level = 'warn';
  }
  const sameAsWorkspace = ws?.revision && c.revision ? ws.revision === c.revision : undefined;
  return {
    kind: 'git',
    label: 'Git',
    value: `${shortRev(c.revision)}${c.branch ? ` (${c.branch})` : ''} · ${parts.join(', ')}`,
    level,
    tooltip:
      `Checkout ${c.path} at ${c.revision ?? 'unknown revision'}${c.branch ? ` on ${c.branch}` : ''}` +
      (sameAsWorkspace === undefined ? '' : sameAsWorkspace ? '\nSame commit as the workspace.' : `\nThe workspace is at ${shortRev(ws?.revision)}.`),
  };
}

export function lockRow(s: HostSnapshot, ws?: WorkspaceInfo): StatusRow | undefined {
  const checkout = s.status?.checkout;
  if (!checkout) return undefined;
  const hostLock = normaliseHash(checkout.lockHash);
  const wsLock = normaliseHash(ws?.lockHash);
  if (hostLock && wsLock && hostLock !== wsLock) {
    return {
      kind: 'lock',
      label: 'Lock',
      value: 'outdated',
      level: 'warn',
      tooltip: `flake.lock on ${s.name} (sha256 ${hostLock.slice(0, 12)}) differs from the workspace's (sha256 ${wsLock.slice(0, 12)}). Pull or deploy to bring it up to date.`,
    };
  }
  // Another commit than the workspace's (a revert or a new commit the host has not pulled):
  // the host would not build what the workspace holds, whatever flake.lock says.
  const hostRev = checkout.revision;
  if (hostRev && ws?.revision && hostRev !== ws.revision) {
    return {
      kind: 'lock',
      label: 'Lock',
      value: `outdated: checkout at ${shortRev(hostRev)}, workspace at ${shortRev(ws.revision)}`,
      level: 'warn',
      tooltip: `The checkout on ${s.name} is at ${hostRev} and the workspace at ${ws.revision} (for example after a revert, or a commit the host has not pulled)${hostLock && wsLock ? '; flake.lock itself is the same' : ''}. Pull or deploy to bring it up to date.`,
    };
  }
  if (!hostLock || !wsLock) {
    return {
      kind: 'lock',
      label: 'Lock',
      value: 'unknown',
      level: 'unknown',
      tooltip: !hostLock ? `${s.name} did not report its flake.lock hash.` : 'The workspace has no flake.lock to compare with.',
    };
  }
  return {
    kind: 'lock',
    label: 'Lock',
    value: 'matches the workspace',
    level: 'ok',
    tooltip: `flake.lock and the checkout's commit on ${s.name} are the workspace's (flake.lock sha256 ${hostLock.slice(0, 12)}).`,
  };
}

export function systemRow(s: HostSnapshot, ws?: WorkspaceInfo): StatusRow | undefined {
  const st = s.status;
  if (!st) return undefined;
  const gen = st.currentGeneration;
  const genText = gen === undefined ? 'no generation' : `generation ${gen}`;
  const built = st.currentRevision;
  if (!built) {
    return { kind: 'system', label: 'System', value: `${genText}, source commit not recorded`, level: 'unknown', tooltip: `${s.name} runs ${genText}; the agent has no record of the commit it was built from (it was not switched by the agent).` };
  }
  if (!ws?.revision) {
    return { kind: 'system', label: 'System', value: `${genText} from ${shortRev(built)}`, level: 'unknown', tooltip: `${s.name} runs ${genText}, built from ${built}. The workspace is not a git checkout to compare with.` };
  }
  const same = built === ws.revision || (built.length < 40 && ws.revision.startsWith(built));
  return {
    kind: 'system',
    label: 'System',
    value: same ? `${genText}, built from the workspace commit` : `${genText} from ${shortRev(built)}, not the workspace's ${shortRev(ws.revision)}`,
    level: same ? 'ok' : 'warn',
    tooltip: `${s.name} runs ${genText}, built from ${built}.\nWorkspace: ${ws.revision}.`,
  };
}

export function testsRow(s: HostSnapshot): StatusRow | undefined {
  if (!s.status) return undefined;
  const c = s.status.lastChecks;
  if (!c) return { kind: 'tests', label: 'Tests', value: 'not run', level: 'unknown', tooltip: `No health checks were recorded on ${s.name}. Run "NixFleet: Run Tests".` };
  return c.passed
    ? { kind: 'tests', label: 'Tests', value: `passed · ${formatTime(c.at)}`, level: 'ok', tooltip: `Health checks passed at ${c.at}.` }
    : { kind: 'tests', label: 'Tests', value: `failed · ${formatTime(c.at)}`, level: 'error', tooltip: `Health checks failed at ${c.at}.${c.detail ? '\n' + c.detail : ''}` };
}

export function statusRows(s: HostSnapshot, ws?: WorkspaceInfo): StatusRow[] {
  return [agentRow(s), gitRow(s, ws), lockRow(s, ws), systemRow(s, ws), testsRow(s)].filter((r): r is StatusRow => !!r);
}

/** "2026-11-22 04:05" in local time: short enough for a description. */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}
