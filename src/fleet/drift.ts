// Where a host is not what the operator expects, worst first: the last op failed or was undone,
// its health checks failed or never ran on the generation it is on, it runs something other than
// its profile's current generation, its checkout or its system is not the workspace's commit.
// Pure, like statusRows.ts: the host row's icon and description and the "Drift" row render
// what this returns, with the one command that fixes it where there is one.
import type { HostSnapshot } from './hostSnapshot';
import type { HostOutcome } from './hostOutcome';
import { formatTime } from './timeText';
import type { WorkspaceInfo } from './workspace';

export type DriftKind = 'op-failed' | 'tests-failed' | 'not-running-profile' | 'undone' | 'tests-not-run' | 'checkout' | 'system-commit';

/** A command of the extension that fixes the drift, with its arguments (`{ host, … }`). */
export interface DriftFix {
  command: string;
  title: string;
  args: Record<string, unknown>;
}

export interface Drift {
  kind: DriftKind;
  level: 'error' | 'warn';
  /** A few words for the host row's description, e.g. "switch failed". */
  short: string;
  /** One or two sentences: what is wrong and what to do. */
  detail: string;
  fix?: DriftFix;
}

/** Worst first: what must be looked at before anything else is trusted. */
const RANK: readonly DriftKind[] = ['op-failed', 'tests-failed', 'not-running-profile', 'undone', 'tests-not-run', 'checkout', 'system-commit'];

const sameCommit = (a: string, b: string) => a === b || (a.length < 40 && b.startsWith(a)) || (b.length < 40 && a.startsWith(b));
const short = (rev: string) => rev.slice(0, 7);

export function hostDrift(s: HostSnapshot, ws?: WorkspaceInfo): Drift[] {
  if (s.connection === 'unconfigured') return [];
  const found = [outcomeDrift(s.name, s.lastOutcome), testsDrift(s), runningDrift(s), checkoutDrift(s, ws), systemCommitDrift(s, ws)].flat();
  return found.sort((a, b) => (a.level === b.level ? RANK.indexOf(a.kind) - RANK.indexOf(b.kind) : a.level === 'error' ? -1 : 1));
}

/** The worst level among the drifts, for the icon. */
export function worstLevel(drifts: readonly Drift[]): 'ok' | 'warn' | 'error' {
  return drifts.some((d) => d.level === 'error') ? 'error' : drifts.length ? 'warn' : 'ok';
}

function outcomeDrift(host: string, o: HostOutcome | undefined): Drift[] {
  if (!o) return [];
  const when = formatTime(o.at);
  const switchAgain: DriftFix = { command: 'nixfleet.switch', title: 'Switch', args: { host } };
  const rerun: DriftFix = o.kind === 'pull' ? { command: 'nixfleet.pull', title: 'Pull', args: { host } } : switchAgain;
  const why = o.detail ? ` ${o.detail}` : '';
  switch (o.state) {
    case 'failed':
    case 'interrupted':
      return [
        {
          kind: 'op-failed',
          level: 'error',
          short: `${o.kind} ${o.state}`,
          detail: `The last ${o.kind} (${o.op}) ${o.state === 'failed' ? 'failed' : 'was interrupted'} at ${when}.${why} Fix the cause (Show Logs has the whole log), then ${rerun.title} again.`,
          fix: rerun,
        },
      ];
    case 'cancelled':
      return [
        {
          kind: 'op-failed',
          level: 'warn',
          short: `${o.kind} cancelled`,
          detail: `The last ${o.kind} (${o.op}) was cancelled at ${when}.${why} ${rerun.title} again to finish it.`,
          fix: rerun,
        },
      ];
    case 'undone': {
      const back = o.generationAfter !== undefined ? ` to generation ${o.generationAfter}` : '';
      const failed = o.generationFailed !== undefined ? ` (generation ${o.generationFailed} was undone)` : '';
      return [
        {
          kind: 'undone',
          level: 'warn',
          short: o.kind === 'rollback' ? `rolled back${back ? ` to gen ${o.generationAfter}` : ''}` : `${o.kind} undone`,
          detail: `The host went back${back} at ${when}${failed}: the deploy it had is undone.${why} Fix the configuration and deploy again, or Run Tests to confirm the host is healthy as it is.`,
          fix: { command: 'nixfleet.runTests', title: 'Run Tests', args: { host } },
        },
      ];
    }
  }
}

function testsDrift(s: HostSnapshot): Drift[] {
  const st = s.status;
  if (!st || st.currentGeneration === undefined) return [];
  const c = st.lastChecks;
  const gen = st.currentGeneration;
  if (!c) {
    return [
      {
        kind: 'tests-not-run',
        level: 'warn',
        short: 'tests not run',
        detail: `No health checks ran on generation ${gen}: nothing says the host works on it. Run Tests.`,
        fix: { command: 'nixfleet.runTests', title: 'Run Tests', args: { host: s.name } },
      },
    ];
  }
  if (c.passed) return [];
  const lkw = st.lastKnownWorking;
  const rollback = lkw !== undefined && lkw !== gen;
  return [
    {
      kind: 'tests-failed',
      level: 'error',
      short: 'tests failed',
      detail:
        `Health checks failed on generation ${gen} at ${formatTime(c.at)}.${c.detail ? ` ${c.detail}` : ''} ` +
        (rollback ? `Roll back to generation ${lkw}, the last known working one, or fix the cause and Run Tests again.` : 'Fix the cause and Run Tests again.'),
      fix: rollback
        ? { command: 'nixfleet.rollback', title: `Rollback to ${lkw}`, args: { host: s.name, generation: lkw } }
        : { command: 'nixfleet.runTests', title: 'Run Tests', args: { host: s.name } },
    },
  ];
}

function runningDrift(s: HostSnapshot): Drift[] {
  const st = s.status;
  const running = st?.runningSystem;
  if (!st || !running || st.currentGeneration === undefined || running.generation === st.currentGeneration) return [];
  const what = running.generation !== undefined ? `generation ${running.generation}` : `${running.path}, which is no generation of the profile`;
  const back: DriftFix | undefined =
    running.generation !== undefined ? { command: 'nixfleet.rollback', title: `Rollback to ${running.generation}`, args: { host: s.name, generation: running.generation } } : undefined;
  return [
    {
      kind: 'not-running-profile',
      level: 'error',
      short: running.generation !== undefined ? `runs gen ${running.generation}, profile at ${st.currentGeneration}` : 'runs a system outside the profile',
      detail:
        `${s.name} runs ${what}, but its profile's current generation is ${st.currentGeneration} (the profile moved without activation, e.g. nix-env --set, or a system was activated by hand): ` +
        `a reboot would change what it runs. ${back ? `Roll back to generation ${running.generation} to make the profile match, or Switch to build and activate the checkout.` : 'Switch to build and activate the checkout.'}`,
      fix: back ?? { command: 'nixfleet.switch', title: 'Switch', args: { host: s.name } },
    },
  ];
}

function checkoutDrift(s: HostSnapshot, ws?: WorkspaceInfo): Drift[] {
  const rev = s.status?.checkout?.revision;
  if (!rev || !ws?.revision || sameCommit(rev, ws.revision)) return [];
  // Pull brings the checkout to origin: it helps only when the workspace's commit is there.
  const pushed = ws.upstreamRevision !== undefined && sameCommit(ws.upstreamRevision, ws.revision);
  return [
    {
      kind: 'checkout',
      level: 'warn',
      short: `checkout at ${short(rev)}`,
      detail:
        `The checkout on ${s.name} is at ${short(rev)}, the workspace at ${short(ws.revision)}. ` +
        (pushed ? 'Pull to bring it to origin, or deploy the workspace commit.' : 'Push the workspace commit, then Pull or deploy it.'),
      fix: pushed ? { command: 'nixfleet.pull', title: 'Pull', args: { host: s.name } } : undefined,
    },
  ];
}

function systemCommitDrift(s: HostSnapshot, ws?: WorkspaceInfo): Drift[] {
  const built = s.status?.currentRevision;
  const checkout = s.status?.checkout?.revision;
  // Only when the checkout already has the workspace's commit: otherwise the checkout drift says it.
  if (!built || !ws?.revision || !checkout || !sameCommit(checkout, ws.revision) || sameCommit(built, ws.revision)) return [];
  return [
    {
      kind: 'system-commit',
      level: 'warn',
      short: `system from ${short(built)}`,
      detail: `${s.name} runs a system built from ${short(built)}; its checkout and the workspace are at ${short(ws.revision)}, not switched to yet. Switch to build and activate it.`,
      fix: { command: 'nixfleet.switch', title: 'Switch', args: { host: s.name } },
    },
  ];
}
