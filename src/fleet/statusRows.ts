// The status rows shown under a host: its drifts (each with its fix), then Agent, Git, Lock, System, Tests. Pure: the view only
// renders what this returns, so every rule here is unit-tested.
import type { HostSnapshot } from './hostSnapshot';
import { hostDrift, type DriftFix, type DriftKind } from './drift';
import { formatMoment, formatTime } from './timeText';
import { normaliseHash, type WorkspaceInfo } from './workspace';

export { formatTime } from './timeText';

export type RowLevel = 'ok' | 'warn' | 'error' | 'unknown';
export type RowKind = 'drift' | 'agent' | 'git' | 'lock' | 'system' | 'tests';

export interface StatusRow {
  kind: RowKind;
  label: string;
  value: string;
  level: RowLevel;
  tooltip: string;
  /** The command that fixes what the row says (drift rows; the Agent row of a host that refused the token). */
  fix?: DriftFix;
  /** Which drift a drift row shows (one row per drift, so ids stay unique). */
  drift?: DriftKind;
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
    case 'offline': {
      // A refused token has a fixing command: the row runs it when clicked.
      const fix: DriftFix | undefined = s.problemCode === 'unauthorized' ? { command: 'nixfleet.setAgentToken', title: 'Set Agent Token', args: { host: s.name, treeNode: true } } : undefined;
      return {
        kind: 'agent',
        label: 'Agent',
        value: `offline${s.problem ? ': ' + s.problem : ''}`,
        level: 'error',
        tooltip: `${s.problem ?? 'The agent does not answer.'}${s.lastSeen ? `\nLast seen ${s.lastSeen}; the rows below are its last known state.` : '\nNever reached.'}${fix ? `\nClick to run ${fix.title}.` : ''}`,
        ...(fix ? { fix } : {}),
      };
    }
  }
}

/** ahead/behind are as of the last fetch: "up to date" is only said within this of it. */
export const FETCH_FRESH_MS = 60 * 60_000;

export function gitRow(s: HostSnapshot, ws?: WorkspaceInfo, now = Date.now()): StatusRow | undefined {
  const c = s.status?.checkout;
  if (!c) return undefined;
  if (c.error) return { kind: 'git', label: 'Git', value: `error: ${c.error}`, level: 'error', tooltip: `Checkout ${c.path}: ${c.error}` };
  const parts: string[] = [];
  const notes: string[] = [];
  let level: RowLevel = 'ok';
  const warn = () => void (level = 'warn');
  const fetched = c.fetchedAt ? `fetched ${formatMoment(c.fetchedAt, now)}` : 'never fetched';
  const fresh = c.fetchedAt !== undefined && now - Date.parse(c.fetchedAt) <= FETCH_FRESH_MS;
  if (c.behind === undefined && c.ahead === undefined) {
    parts.push('no upstream');
    level = 'unknown';
  } else if (!c.behind && !c.ahead) {
    if (fresh) parts.push(`up to date with origin (${fetched})`);
    else {
      // Nothing newer was seen, but nobody looked lately: origin may have moved since.
      parts.push(`not behind origin as of its last fetch (${fetched})`);
      level = 'unknown';
      notes.push('Pull fetches from origin and brings the checkout up to date.');
    }
  } else {
    // "3 behind origin", "1 ahead of origin", "3 behind, 1 ahead of origin".
    if (c.behind && c.ahead) parts.push(`${c.behind} behind, ${c.ahead} ahead of origin`);
    else if (c.behind) parts.push(`${c.behind} behind origin`);
    else parts.push(`${c.ahead} ahead of origin`);
    parts[parts.length - 1] += ` (${fetched})`;
    warn();
    if (c.behind) notes.push('Pull to bring the checkout up to date.');
  }
  if (c.dirty) {
    parts.push('uncommitted changes');
    warn();
  }
  // Commit drift against the workspace is this row's; the Lock row compares only the pinned inputs.
  const sameAsWorkspace = ws?.revision && c.revision ? ws.revision === c.revision : undefined;
  if (sameAsWorkspace === false) warn();
  return {
    kind: 'git',
    label: 'Git',
    value: `${shortRev(c.revision)}${c.branch ? ` (${c.branch})` : ''}${sameAsWorkspace === false ? `, not the workspace's ${shortRev(ws?.revision)}` : ''} · ${parts.join(', ')}`,
    level,
    tooltip:
      `Checkout ${c.path} at ${c.revision ?? 'unknown revision'}${c.branch ? ` on ${c.branch}` : ''}` +
      (c.fetchedAt ? `\nLast fetched from origin at ${formatTime(c.fetchedAt)}: ahead/behind are as of then.` : '\nNever fetched from origin: ahead/behind are as of the clone.') +
      (sameAsWorkspace === undefined ? '' : sameAsWorkspace ? '\nSame commit as the workspace.' : `\nThe workspace is at ${ws?.revision}.`) +
      (notes.length ? `\n${notes.join(' ')}` : ''),
  };
}

export function lockRow(s: HostSnapshot, ws?: WorkspaceInfo): StatusRow | undefined {
  const checkout = s.status?.checkout;
  if (!checkout) return undefined;
  const hostLock = normaliseHash(checkout.lockHash);
  const wsLock = normaliseHash(ws?.lockHash);
  if (!hostLock || !wsLock) {
    return {
      kind: 'lock',
      label: 'Lock',
      value: 'unknown',
      level: 'unknown',
      tooltip: !hostLock ? `${s.name} did not report its flake.lock (a flake without inputs has none).` : 'The workspace has no flake.lock to compare with.',
    };
  }
  if (hostLock === wsLock) {
    return { kind: 'lock', label: 'Lock', value: 'same inputs as the workspace', level: 'ok', tooltip: `flake.lock on ${s.name} pins the same inputs as the workspace's (sha256 ${hostLock.slice(0, 12)}).` };
  }
  const changed = inputChanges(checkout.lockInputs, ws?.lockInputs);
  const value = changed === undefined ? 'differs from the workspace' : changed.length ? `differs: ${changed.map((c) => c.name).join(', ')}` : 'same pins, other file';
  return {
    kind: 'lock',
    label: 'Lock',
    value,
    level: changed?.length === 0 ? 'ok' : 'warn',
    tooltip:
      `flake.lock on ${s.name} (sha256 ${hostLock.slice(0, 12)}) is not the workspace's (sha256 ${wsLock.slice(0, 12)}).` +
      (changed?.length ? '\n' + changed.map((c) => `${c.name}: ${c.host ? pin(c.host) : 'absent'} on the host, ${c.workspace ? pin(c.workspace) : 'absent'} in the workspace`).join('\n') : '') +
      (changed?.length === 0 ? '\nEvery input is pinned to the same revision; only the file differs (formatting or metadata).' : '\nPull or deploy to bring the host to the workspace\'s inputs.'),
  };
}

/** The root inputs pinned differently; undefined when either side did not report its pins. */
function inputChanges(host: Record<string, string> | undefined, workspace: Record<string, string> | undefined) {
  if (!host || !workspace) return undefined;
  const names = [...new Set([...Object.keys(host), ...Object.keys(workspace)])].sort();
  return names.filter((n) => host[n] !== workspace[n]).map((name) => ({ name, host: host[name], workspace: workspace[name] }));
}

/** A git revision shortened like a commit; a narHash as is (it names content, not a commit). */
const pin = (p: string) => (/^[0-9a-f]{40}$/.test(p) ? p.slice(0, 7) : p.slice(0, 20));

export function systemRow(s: HostSnapshot, ws?: WorkspaceInfo): StatusRow | undefined {
  const st = s.status;
  if (!st) return undefined;
  const gen = st.currentGeneration;
  const genText = gen === undefined ? 'no generation' : `generation ${gen}`;
  const running = st.runningSystem;
  if (running && gen !== undefined && running.generation !== gen) {
    const what = running.generation !== undefined ? `generation ${running.generation}` : 'a system outside the profile';
    return {
      kind: 'system',
      label: 'System',
      value: `runs ${what}, profile at ${genText}`,
      level: 'error',
      tooltip: `${s.name} runs ${running.path}${running.generation !== undefined ? ` (generation ${running.generation})` : ''}, but its profile's current generation is ${gen}: the profile moved without activation (nix-env --set, or an activation that never ran). A reboot would switch to generation ${gen}. Switch, or roll back to what runs.`,
    };
  }
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
    tooltip: `${s.name} runs ${genText}, built from ${built}.\nWorkspace: ${ws.revision}.${running ? '' : '\nThe agent does not report the running system: that it runs this generation is assumed.'}`,
  };
}

export function testsRow(s: HostSnapshot): StatusRow | undefined {
  if (!s.status) return undefined;
  const c = s.status.lastChecks;
  const gen = s.status.currentGeneration;
  if (!c) {
    return {
      kind: 'tests',
      label: 'Tests',
      value: gen === undefined ? 'not run' : `not run on generation ${gen}`,
      level: gen === undefined ? 'unknown' : 'warn',
      tooltip: `No health checks were recorded on ${s.name}${gen === undefined ? '' : ` for generation ${gen}`}. Run "NixFleet: Run Tests".`,
    };
  }
  return c.passed
    ? { kind: 'tests', label: 'Tests', value: `passed · ${formatTime(c.at)}`, level: 'ok', tooltip: `Health checks passed at ${c.at}.` }
    : { kind: 'tests', label: 'Tests', value: `failed · ${formatTime(c.at)}`, level: 'error', tooltip: `Health checks failed at ${c.at}.${c.detail ? '\n' + c.detail : ''}` };
}

/** One row per drift (drift.ts), worst first, each running its fix when clicked. */
export function driftRows(s: HostSnapshot, ws?: WorkspaceInfo): StatusRow[] {
  return hostDrift(s, ws).map((d) => ({
    kind: 'drift',
    label: d.short.charAt(0).toUpperCase() + d.short.slice(1),
    value: d.fix ? `→ ${d.fix.title}` : '',
    level: d.level,
    tooltip: d.detail + (d.fix ? `\nClick to run ${d.fix.title}.` : ''),
    fix: d.fix,
    drift: d.kind,
  }));
}

export function statusRows(s: HostSnapshot, ws?: WorkspaceInfo, now = Date.now()): StatusRow[] {
  return [...driftRows(s, ws), agentRow(s), gitRow(s, ws, now), lockRow(s, ws), systemRow(s, ws), testsRow(s)].filter((r): r is StatusRow => !!r);
}
