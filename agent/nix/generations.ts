// The host's generations as the protocol describes them: profile links plus what the
// agent recorded (revision, health checks). Read straight from disk, no nix-env.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Generation } from '../../protocol';
import type { AgentConfig } from '../config';
import { checksFor, readMetadata } from '../state/metadata';
import { versionFile } from './platform';
import { readProfile } from './profile';

/** Generations of the configured profile, oldest first; a missing profile gives []. */
export async function listGenerations(config: Pick<AgentConfig, 'profile' | 'platform' | 'stateDir'>): Promise<Generation[]> {
  const { links, current } = readProfile(config.profile);
  if (links.length === 0) return [];
  const meta = readMetadata(config.stateDir);
  const vfile = versionFile(config.platform);
  // Rollbacks revisit store paths: look each one up once.
  const seen = new Map<string, { present: boolean; version?: string }>();
  const out: Generation[] = links.map((l) => {
    let info = seen.get(l.target);
    if (!info) {
      const present = existsSync(l.target);
      let version: string | undefined;
      if (present) {
        try {
          version = readFileSync(path.join(l.target, vfile), 'utf8').trim() || undefined;
        } catch {
          version = undefined; // not every system carries a version file
        }
      }
      info = { present, version };
      seen.set(l.target, info);
    }
    const gen: Generation = {
      generation: l.generation,
      path: l.target,
      createdAt: new Date(l.mtimeMs).toISOString(),
      current: l.generation === current,
      present: info.present,
      lastKnownWorking: false,
    };
    if (info.version !== undefined) gen.systemVersion = info.version;
    const rev = meta.revisions[l.target];
    if (rev) gen.revision = rev.revision;
    const checks = checksFor(meta, l.generation, l.target);
    if (checks) gen.checks = checks;
    return gen;
  });
  for (let i = out.length - 1; i >= 0; i--) {
    const g = out[i]!;
    if (g.checks?.passed && g.present) {
      g.lastKnownWorking = true;
      break;
    }
  }
  return out;
}
