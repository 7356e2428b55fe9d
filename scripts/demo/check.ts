// `npm start -- --check`: on the demo fleet, checks through the same client the extension
// uses (src/fleet/agentClient.ts over WebSocket with each host's token) that every host
// answers, that a wrong token is refused, and that a switch to a new commit and a rollback
// work on every host, reading the profile links on disk to confirm each one.
import { readlinkSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DemoFleet, DemoHost } from './fleet';
import { client, runOp } from './ops';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}


/** The generation the profile link points at, read from disk (P -> P-N-link). */
function profileGeneration(profile: string): number {
  const m = /-(\d+)-link$/.exec(readlinkSync(profile));
  if (!m) throw new Error(`${profile} does not point at a generation link`);
  return Number(m[1]);
}

function versionFile(h: DemoHost): string {
  return h.platform === 'nixos' ? 'nixos-version' : h.platform === 'darwin' ? 'darwin-version' : 'hm-version';
}

function systemVersion(h: DemoHost): string {
  return readFileSync(path.join(readlinkSync(path.join(path.dirname(h.profile), readlinkSync(h.profile))), versionFile(h)), 'utf8').trim();
}


export async function checkFleet(fleet: DemoFleet, say: (r: CheckResult) => void): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const record = (name: string, ok: boolean, detail: string) => {
    const r = { name, ok, detail };
    results.push(r);
    say(r);
    return ok;
  };
  const attempt = async (name: string, fn: () => Promise<string>): Promise<boolean> => {
    try {
      return record(name, true, await fn());
    } catch (err) {
      return record(name, false, err instanceof Error ? err.message : String(err));
    }
  };

  for (const h of fleet.hosts) {
    const c = client(h);
    try {
      const answered = await attempt(`${h.name}: agent answers on ${h.address}`, async () => {
        const welcome = await c.connect();
        const gens = await c.generations();
        const current = gens.find((g) => g.current);
        if (gens.length < 3) throw new Error(`expected at least 3 generations, the agent lists ${gens.length}`);
        if (!current || current.generation !== profileGeneration(h.profile)) {
          throw new Error(`the agent says generation ${current?.generation} is current, the profile link says ${profileGeneration(h.profile)}`);
        }
        return `agent ${welcome.agent.version}, ${welcome.platform}, ${gens.length} generations, current ${current.generation}`;
      });
      if (!answered) continue;

      await attempt(`${h.name}: a wrong token is refused`, async () => {
        const bad = client(h, 'not-the-token');
        try {
          await bad.connect();
        } catch (err) {
          return `refused: ${(err as Error).message}`;
        } finally {
          bad.close();
        }
        throw new Error('the agent accepted a wrong token');
      });

      const before = profileGeneration(h.profile);
      const newVersion = `24.05.${4 + fleet.hosts.indexOf(h)}`;
      const switched = await attempt(`${h.name}: switch to a new commit`, async () => {
        const rev = await fleet.bed.setVersion(h.name, newVersion);
        const pull = await runOp(c, h, 'pull', {});
        if (pull.state !== 'succeeded') throw new Error(`pull ${pull.state}: ${pull.error ?? ''}`);
        const sw = await runOp(c, h, 'switch', {});
        if (sw.state !== 'succeeded') throw new Error(`switch ${sw.state}: ${sw.error ?? ''}`);
        const after = profileGeneration(h.profile);
        if (after !== before + 1) throw new Error(`the profile is at generation ${after}, expected ${before + 1}`);
        const v = systemVersion(h);
        if (v !== newVersion) throw new Error(`the new generation's system version is ${v}, expected ${newVersion}`);
        return `commit ${rev.slice(0, 7)} → generation ${after} (system ${v}), ${sw.lines} log lines streamed`;
      });
      if (!switched) continue;

      await attempt(`${h.name}: rollback`, async () => {
        const rb = await runOp(c, h, 'rollback', {});
        if (rb.state !== 'succeeded') throw new Error(`rollback ${rb.state}: ${rb.error ?? ''}`);
        const now = profileGeneration(h.profile);
        if (now !== before) throw new Error(`the profile is at generation ${now}, expected ${before}`);
        const gens = await c.generations();
        if (gens.find((g) => g.current)?.generation !== before) throw new Error('the agent does not report the rolled-back generation as current');
        return `back to generation ${now} (system ${systemVersion(h)})`;
      });
    } finally {
      c.close();
    }
  }
  return results;
}
