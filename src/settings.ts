// The extension's settings, read in one typed place. Their defaults live in package.json
// (contributes.configuration) only: VS Code applies them, and so does this module when the
// editor has no value (a scripted editor in tests). Each setting is read when asked for, so a
// bad value of one setting fails only what uses it, with a sentence saying how to fix it.
import pkg from '../package.json';
import { brokerUrlsProblem } from '../protocol/broker';
import { MAX_SOAK_MS } from './deploy/rollout';
import { FAILURE_POLICIES, type FailurePolicy } from './deploy/rolloutTypes';
import { parseDuration, parseWaveSpec } from './deploy/rolloutWaves';
import type { RebuildSmartSettings } from './fleet/rebuildSmartParams';

/**
 * The rollout settings. Hosts at once within a wave is nixfleet.deploy.parallelism: one
 * setting for "how many hosts switch at once", whether the deploy has waves or not.
 */
export interface RolloutSettings {
  waves: string[];
  soakMs: number;
  failuresTolerated: number;
  onFailure: FailurePolicy | 'ask';
  maxInFlight: number;
}

type Contributed = Record<string, { default?: unknown }>;
const contributed = pkg.contributes.configuration.properties as Contributed;

/** The default package.json gives `key` (e.g. "nixfleet.magicRollback"). */
export function settingDefault(key: string): unknown {
  const p = contributed[key];
  if (!p) throw new Error(`setting ${key} is not contributed in package.json`);
  return p.default;
}

/** Every setting this extension contributes. */
export const SETTING_KEYS = Object.keys(contributed);

export class Settings {
  constructor(private readonly source: { setting(key: string): unknown }) {}

  private raw(key: string): unknown {
    const v = this.source.setting(key);
    return v === undefined ? settingDefault(key) : v;
  }

  private bool(key: string): boolean {
    const v = this.raw(key);
    if (typeof v !== 'boolean') throw new Error(`setting ${key} must be true or false; fix it in Settings`);
    return v;
  }

  /** The nixfleet.hosts entries as written (parsed by fleet/hostConfig.ts). */
  get hosts(): unknown {
    return this.raw('nixfleet.hosts');
  }

  /** The nixfleet.broker servers (one cluster); empty when no broker is set. */
  get broker(): string[] {
    const v = this.raw('nixfleet.broker');
    if (v === undefined || v === null || v === '') return [];
    const fix = 'give nats://HOST:PORT or tls://HOST:PORT, or a list of them for a cluster, or clear the setting';
    const urls = typeof v === 'string' ? [v.trim()] : Array.isArray(v) && v.every((u): u is string => typeof u === 'string') ? v.map((u) => u.trim()) : undefined;
    if (!urls) throw new Error(`setting nixfleet.broker must be a URL or a list of URLs: ${fix}`);
    const problem = brokerUrlsProblem(urls, 'setting nixfleet.broker');
    if (problem) throw new Error(`${problem}; fix it in Settings`);
    return urls;
  }

  get discoverFromFlake(): boolean {
    return this.bool('nixfleet.discoverFromFlake');
  }

  /** Switch, Force Rebuild, Rollback and deploys ask the agent to wait for a confirmation. */
  get magicRollback(): boolean {
    return this.bool('nixfleet.magicRollback');
  }

  /** A failed op opens its host's log by itself. */
  get showLogsOnFailure(): boolean {
    return this.bool('nixfleet.showLogsOnFailure');
  }

  /** Rebuild Smart shows its plan and asks before a run that commits or pushes. */
  get confirmRebuildSmart(): boolean {
    return this.bool('nixfleet.rebuildSmart.confirm');
  }

  get rebuildSmart(): RebuildSmartSettings {
    return {
      autoCommit: this.bool('nixfleet.rebuildSmart.autoCommit'),
      autoPush: this.bool('nixfleet.rebuildSmart.autoPush'),
      updateBeforeRebuild: this.bool('nixfleet.rebuildSmart.updateBeforeRebuild'),
      syncDotfiles: this.bool('nixfleet.rebuildSmart.syncDotfiles'),
      offlineMode: this.bool('nixfleet.rebuildSmart.offlineMode'),
    };
  }

  get canaryHosts(): string[] {
    const v = this.raw('nixfleet.deploy.canaryHosts');
    return (Array.isArray(v) ? v : []).filter((x): x is string => typeof x === 'string');
  }

  get deployParallelism(): number {
    const v = this.raw('nixfleet.deploy.parallelism');
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 256) {
      throw new Error('setting nixfleet.deploy.parallelism must be a whole number from 1 to 256; fix it in Settings');
    }
    return v;
  }

  get showClosureDiff(): boolean {
    return this.bool('nixfleet.deploy.showClosureDiff');
  }

  /** A rollout's waves, limits and failure policy (src/deploy/rollout.ts), each value checked. */
  get rollout(): RolloutSettings {
    const waves = this.raw('nixfleet.deploy.waves');
    if (!Array.isArray(waves) || waves.some((w) => typeof w !== 'string')) throw new Error('setting nixfleet.deploy.waves must be a list of waves such as ["25%", "tag:web"]; fix it in Settings');
    for (const w of waves as string[]) {
      try {
        parseWaveSpec(w);
      } catch (err) {
        throw new Error(`setting nixfleet.deploy.waves: ${(err as Error).message}; fix it in Settings`);
      }
    }
    const soakText = this.raw('nixfleet.deploy.soak');
    let soakMs: number;
    try {
      if (typeof soakText !== 'string') throw new Error('it is not text');
      soakMs = parseDuration(soakText);
    } catch (err) {
      throw new Error(`setting nixfleet.deploy.soak: ${(err as Error).message}; fix it in Settings`);
    }
    if (soakMs > MAX_SOAK_MS) throw new Error('setting nixfleet.deploy.soak is longer than 24 hours; give at most 24h in Settings');
    const tolerated = this.raw('nixfleet.deploy.failuresTolerated');
    if (typeof tolerated !== 'number' || !Number.isInteger(tolerated) || tolerated < 0 || tolerated > 10_000) throw new Error('setting nixfleet.deploy.failuresTolerated must be a whole number from 0 to 10000; fix it in Settings');
    const onFailure = this.raw('nixfleet.deploy.onFailure');
    if (!FAILURE_POLICIES.includes(onFailure as FailurePolicy)) throw new Error('setting nixfleet.deploy.onFailure must be ask, keep, rollback-wave or rollback-all; fix it in Settings');
    return { waves: waves as string[], soakMs, failuresTolerated: tolerated, onFailure: onFailure as FailurePolicy | 'ask', maxInFlight: this.deployParallelism };
  }

  /** GitHub Enterprise (or a test server): the REST API root; undefined for github.com. */
  get githubApiUrl(): string | undefined {
    const v = this.raw('nixfleet.github.apiUrl');
    if (v === undefined || v === '') return undefined;
    const fix = 'give the REST API root such as https://github.example.com/api/v3, or clear the setting for github.com';
    if (typeof v !== 'string') throw new Error(`setting nixfleet.github.apiUrl must be text: ${fix}`);
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      throw new Error(`setting nixfleet.github.apiUrl is not a URL: ${fix}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`setting nixfleet.github.apiUrl must be an http(s) URL: ${fix}`);
    return v.replace(/\/+$/, '');
  }
}
