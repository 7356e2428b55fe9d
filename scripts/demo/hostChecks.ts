// One check per extension command that acts on one host. Each starts the op the command
// starts, with the params the command sends (src/fleet helpers where the extension has
// them), follows it through the extension's agent client, and confirms the outcome on disk
// (profile links, the system's files, the checkout's HEAD) or in the agent's journal.
import { existsSync, lutimesSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AgentClient } from '../../src/fleet/agentClient';
import { defaultRollbackTarget, planRollback } from '../../src/fleet/generations';
import { rebuildSmartParams } from '../../src/fleet/rebuildSmartParams';
import { readLockedInputs } from '../../agent/nix/flakeLock';
import { opResultOf, type OpInfo } from '../../protocol';
import type { DemoFleet, DemoHost } from './fleet';
import { agentPackageOf, packageVersion } from './agentService';
import { gitIn, journalText, opRecord, profileGeneration, profileSystem, systemVersion } from './onDisk';
import { client, demoOpId, runOp, type OpRun } from './ops';

export interface HostCtx {
  fleet: DemoFleet;
  h: DemoHost;
  c: AgentClient;
}

function succeeded(kind: string, r: OpRun): OpInfo {
  if (r.state !== 'succeeded') throw new Error(`${kind} ${r.state}: ${r.error ?? 'see the journal'}`);
  return r.op;
}

/** The params "Rollback" and "Rollback to This Generation" send after the confirmation. */
async function rollbackTo(x: HostCtx, to: number): Promise<OpRun> {
  const plan = planRollback(x.h.name, await x.c.generations(), to);
  return runOp(x.c, x.h, 'rollback', { to, ...(plan.old ? { confirmOld: true } : {}) });
}

export async function agentAnswers(x: HostCtx): Promise<string> {
  const welcome = await x.c.connect();
  const gens = await x.c.generations();
  const current = gens.find((g) => g.current);
  if (gens.length < 3) throw new Error(`expected at least 3 generations, the agent lists ${gens.length}`);
  if (!current || current.generation !== profileGeneration(x.h.profile)) {
    throw new Error(`the agent says generation ${current?.generation} is current, the profile link says ${profileGeneration(x.h.profile)}`);
  }
  if (welcome.agent.version !== x.fleet.agentVersions.installed) throw new Error(`the agent reports version ${welcome.agent.version}, its system carries ${x.fleet.agentVersions.installed}`);
  return `agent ${welcome.agent.version}, ${welcome.platform}, ${gens.length} generations, current ${current.generation}`;
}

export async function wrongTokenRefused(x: HostCtx): Promise<string> {
  const bad = client(x.h, 'not-the-token');
  try {
    await bad.connect();
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  } finally {
    bad.close();
  }
  throw new Error('the agent accepted a wrong token');
}

export async function pull(x: HostCtx, rev: string): Promise<string> {
  const generation = profileGeneration(x.h.profile);
  succeeded('pull', await runOp(x.c, x.h, 'pull', {}));
  const head = await gitIn(x.h.checkout, 'rev-parse', 'HEAD');
  if (head !== rev) throw new Error(`the checkout ${x.h.checkout} is at ${head.slice(0, 7)}, origin/main at ${rev.slice(0, 7)}`);
  if (profileGeneration(x.h.profile) !== generation) throw new Error('pull changed the profile');
  return `checkout HEAD ${head.slice(0, 7)} = origin/main, profile still at generation ${generation}`;
}

export async function switchTo(x: HostCtx, rev: string, version: string): Promise<string> {
  const before = profileGeneration(x.h.profile);
  const r = await runOp(x.c, x.h, 'switch', {});
  succeeded('switch', r);
  const after = profileGeneration(x.h.profile);
  if (after !== before + 1) throw new Error(`the profile is at generation ${after}, expected ${before + 1}`);
  const v = systemVersion(x.h);
  if (v !== version) throw new Error(`the new generation's system version is ${v}, expected ${version}`);
  const recorded = (await x.c.generations()).find((g) => g.current);
  if (recorded?.revision !== rev) throw new Error(`the agent records commit ${recorded?.revision?.slice(0, 7)} for generation ${after}, expected ${rev.slice(0, 7)}`);
  return `commit ${rev.slice(0, 7)} → generation ${after} (system ${v}), ${r.lines} log lines streamed`;
}

export async function rollback(x: HostCtx): Promise<string> {
  const gens = await x.c.generations();
  const target = defaultRollbackTarget(gens);
  if (!target) throw new Error('the agent offers no generation to roll back to');
  succeeded('rollback', await rollbackTo(x, target.generation));
  const now = profileGeneration(x.h.profile);
  if (now !== target.generation) throw new Error(`the profile is at generation ${now}, expected ${target.generation}`);
  if ((await x.c.generations()).find((g) => g.current)?.generation !== now) throw new Error('the agent does not report the rolled-back generation as current');
  return `back to generation ${now} (system ${systemVersion(x.h)})`;
}

export async function rollbackToGeneration(x: HostCtx, to: number): Promise<string> {
  const from = profileGeneration(x.h.profile);
  succeeded('rollback', await rollbackTo(x, to));
  const now = profileGeneration(x.h.profile);
  if (now !== to) throw new Error(`the profile is at generation ${now}, expected ${to}`);
  return `generation ${from} → ${now} (system ${systemVersion(x.h)}), chosen from ${(await x.c.generations()).length} generations`;
}

export async function forceRebuild(x: HostCtx, fromSource: boolean): Promise<string> {
  const r = await runOp(x.c, x.h, 'force-rebuild', fromSource ? { fromSource: true } : {});
  const op = succeeded(fromSource ? 'force rebuild from source' : 'force rebuild', r);
  const journal = await journalText(x.h.stateDir, op.id);
  const wanted = fromSource ? 'substitute false' : 'narinfo-cache-negative-ttl 0';
  if (!journal.includes(wanted)) throw new Error(`the journal of ${op.id} shows no build with --option ${wanted}`);
  if (profileSystem(x.h.profile) !== op.result?.storePath) throw new Error(`the profile points at ${profileSystem(x.h.profile)}, the op built ${op.result?.storePath}`);
  return `built with --option ${wanted} (journal), generation ${profileGeneration(x.h.profile)} activated, checks ${op.result?.checks}`;
}

export async function runTests(x: HostCtx): Promise<string> {
  const op = succeeded('test', await runOp(x.c, x.h, 'test', {}));
  if (op.result?.checks !== 'passed') throw new Error(`the health checks ${op.result?.checks ?? 'did not run'}`);
  const journal = await journalText(x.h.stateDir, op.id);
  if (!journal.includes('nix-store --query --hash')) throw new Error(`the journal of ${op.id} does not show the health check nix-store --query --hash`);
  const current = (await x.c.generations()).find((g) => g.current);
  if (!current?.checks?.passed) throw new Error(`generation ${current?.generation} is not recorded as tested`);
  return `health checks passed (journal), recorded for generation ${current.generation} at ${current.checks.at}`;
}

export async function updateAgent(x: HostCtx): Promise<string> {
  const { installed, offered } = x.fleet.agentVersions;
  const repoHead = await gitIn(x.fleet.agentRepo.dir, 'rev-parse', 'HEAD');
  const newest = Math.max(...(await x.c.generations()).map((g) => g.generation));
  // What Update Agent sends: verify, so the op fails unless the restarted agent is newer.
  const op = succeeded('self-update', await runOp(x.c, x.h, 'self-update', { verify: true }));
  if (op.result?.agentVersionBefore !== installed || op.result?.agentVersionAfter !== offered) {
    throw new Error(`the agent went ${op.result?.agentVersionBefore} → ${op.result?.agentVersionAfter}, expected ${installed} → ${offered}`);
  }
  const locked = readLockedInputs(x.h.checkout)?.find((i) => i.name === 'nixfleet')?.locked;
  if (locked !== repoHead) throw new Error(`flake.lock pins nixfleet at ${locked}, the agent repo is at ${repoHead}`);
  const subject = await gitIn(x.h.checkout, 'log', '-1', '--format=%s');
  if (subject !== 'self-update: update flake input nixfleet') throw new Error(`the checkout's HEAD is "${subject}", not the lock update commit`);
  const after = profileGeneration(x.h.profile);
  const pkg = packageVersion(agentPackageOf(profileSystem(x.h.profile)));
  if (after !== newest + 1 || pkg !== offered) throw new Error(`the profile is at generation ${after} carrying agent ${pkg}, expected a new generation ${newest + 1} with ${offered}`);
  const status = await x.c.status();
  if (status.agentVersion !== offered) throw new Error(`the running agent reports ${status.agentVersion}`);
  return `agent ${installed} → ${offered}: flake.lock → ${repoHead.slice(0, 7)} committed, generation ${after} carries it, the restarted agent reports it`;
}

export async function rebuildSmart(x: HostCtx, version: string): Promise<string> {
  // A change made on the host itself, not yet committed: Rebuild Smart commits and pushes it.
  writeFileSync(path.join(x.h.checkout, 'hosts', x.h.name, 'version'), version + '\n');
  const before = profileGeneration(x.h.profile);
  // The params the command sends with the default nixfleet.rebuildSmart.* settings.
  const params = rebuildSmartParams({ autoCommit: true, autoPush: true, updateBeforeRebuild: false, syncDotfiles: true, offlineMode: false }, {});
  succeeded('rebuild-smart', await runOp(x.c, x.h, 'rebuild-smart', params));
  const after = profileGeneration(x.h.profile);
  if (after !== before + 1 || systemVersion(x.h) !== version) throw new Error(`the profile is at generation ${after} (system ${systemVersion(x.h)}), expected ${before + 1} with ${version}`);
  const head = await gitIn(x.h.checkout, 'rev-parse', 'HEAD');
  const origin = await gitIn(x.fleet.bed.origin, 'rev-parse', 'refs/heads/main');
  if (head !== origin) throw new Error(`the checkout is at ${head.slice(0, 7)}, origin/main at ${origin.slice(0, 7)}: the commit was not pushed`);
  const pushed = await gitIn(x.fleet.bed.origin, 'show', `${origin}:hosts/${x.h.name}/version`);
  if (pushed !== version) throw new Error(`origin/main has version ${pushed} for ${x.h.name}`);
  if (await gitIn(x.h.checkout, 'status', '--porcelain')) throw new Error('the checkout still has uncommitted changes');
  return `local change committed and pushed (origin/main ${origin.slice(0, 7)}), generation ${after} (system ${version})`;
}

/** Cancel: a long op (health checks made slow by <dir>/slow) cancelled while it runs. */
export async function cancel(x: HostCtx): Promise<string> {
  const marker = path.join(x.h.dir, 'slow');
  writeFileSync(marker, '');
  try {
    const id = demoOpId('test', x.h.name);
    await x.c.startOp(id, 'test', {});
    let sawSlow!: () => void;
    const running = new Promise<void>((r) => (sawSlow = r));
    const done = x.c.follow(id, (lines) => {
      if (lines.some((l) => l.text.startsWith('slow check:'))) sawSlow();
    });
    await Promise.race([running, done]);
    await x.c.cancelOp(id);
    const { op } = await done;
    if (op.state !== 'cancelled') throw new Error(`the op ended ${op.state}, not cancelled`);
    const record = opRecord(x.h.stateDir, id);
    if (record.state !== 'cancelled') throw new Error(`the agent's record says ${record.state}`);
    const status = await x.c.status();
    if (status.busy) throw new Error(`the host is still busy with ${status.busy.kind} ${status.busy.op}`);
    const tookS = ((Date.parse(record.endedAt ?? '') - Date.parse(record.startedAt)) / 1000).toFixed(1);
    return `a 60 s health check run cancelled after ${tookS} s: recorded cancelled in ${x.h.stateDir}/ops, host lock free`;
  } finally {
    if (existsSync(marker)) rmSync(marker);
  }
}

/**
 * "Delete Old Generations…": the demo's generations were all made minutes ago, so generation 1
 * is dated 45 days back first (its profile link's time, which is where Nix dates a generation).
 * Then the command's two ops: the dry run that lists what goes, and the deletion of exactly
 * that list; generation 1's link is gone from disk, the current one stays.
 */
export async function deleteOldGenerations(x: HostCtx): Promise<string> {
  const link = `${x.h.profile}-1-link`;
  if (!existsSync(link)) throw new Error(`${link} is missing: the demo host has no generation 1`);
  const old = new Date(Date.now() - 45 * 24 * 3600 * 1000);
  lutimesSync(link, old, old);
  const listed = opResultOf('gc', succeeded('gc', await runOp(x.c, x.h, 'gc', { olderThanDays: 30, dryRun: true })).result);
  const doomed = (listed?.generations ?? []).map((g) => g.generation);
  if (JSON.stringify(doomed) !== '[1]') throw new Error(`the dry run lists [${doomed.join(', ')}] to delete, not generation 1 alone`);
  if (!existsSync(link)) throw new Error('the dry run deleted generation 1');
  const current = profileGeneration(x.h.profile);
  succeeded('gc', await runOp(x.c, x.h, 'gc', { olderThanDays: 30, generations: doomed }));
  if (existsSync(link)) throw new Error(`${link} is still on disk after the deletion`);
  if (profileGeneration(x.h.profile) !== current) throw new Error(`the profile moved from generation ${current} to ${profileGeneration(x.h.profile)}`);
  return `the dry run listed generation 1 (dated 45 days back); deleted: its link is gone, the profile stays on generation ${current}`;
}
