// Shared by the suites: the real agents the harness started (NIXFLEET_E2E_HOSTS), the
// extension's API, and on-disk checks of a host's profile.
import { readlinkSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import type { NixFleetApi } from '../../../src/extension';

export interface E2EHost {
  name: string;
  address: string;
  platform: 'nixos' | 'darwin' | 'home-manager';
  token?: string;
  profile?: string;
  stateDir?: string;
  hookFile?: string;
  /** The agent's config file (JSON). */
  config?: string;
}

export function e2eHosts(): E2EHost[] {
  const raw = process.env.NIXFLEET_E2E_HOSTS;
  if (!raw) throw new Error('NIXFLEET_E2E_HOSTS is not set: run this suite through test/e2e/run.mjs or npm run test:electron');
  const list = JSON.parse(raw) as E2EHost[];
  if (!Array.isArray(list) || !list.length) throw new Error('NIXFLEET_E2E_HOSTS must be a non-empty JSON list');
  return list;
}

/** Hosts with a real agent (a profile on disk), and the one where nothing listens. */
export const liveHosts = () => e2eHosts().filter((h) => h.profile);
export const deadHosts = () => e2eHosts().filter((h) => !h.profile);

export async function api(): Promise<NixFleetApi> {
  const ext = vscode.extensions.all.find((e) => e.packageJSON?.name === 'nixfleet' && e.packageJSON?.publisher === 'nixfleet');
  if (!ext) throw new Error('the NixFleet extension is not loaded in this extension host');
  return (await ext.activate()) as NixFleetApi;
}

/** The generation the profile link points at, read from disk. */
export function profileGeneration(profile: string): number {
  const target = readlinkSync(profile);
  const m = /-(\d+)-link$/.exec(target);
  if (!m) throw new Error(`profile ${profile} points at ${target}, not at a generation link`);
  return Number(m[1]);
}

export async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let configured = false;
/** Put the harness's hosts in nixfleet.hosts (addresses only) and their tokens in SecretStorage. */
export async function configureFleet(): Promise<NixFleetApi> {
  const a = await api();
  if (configured) return a;
  const hosts = e2eHosts();
  await vscode.workspace.getConfiguration('nixfleet').update(
    'hosts',
    hosts.map(({ name, address, platform }) => ({ name, address, platform })),
    vscode.ConfigurationTarget.Workspace,
  );
  for (const h of hosts) if (h.token) await vscode.commands.executeCommand('nixfleet.setAgentToken', { host: h.name, token: h.token });
  await vscode.commands.executeCommand('nixfleet.refresh', {});
  configured = true;
  return a;
}

/** executeCommand as a real Promise (assert.rejects wants one). */
export function cmd<T = unknown>(id: string, ...args: unknown[]): Promise<T> {
  return Promise.resolve(vscode.commands.executeCommand<T>(id, ...args));
}

/**
 * The test bed's activation hook (test/fixtures/testbed.ts: run by the host's activation
 * scripts with /bin/sh): lets a test make an activation slow. null removes it.
 */
export function setActivationHook(h: E2EHost, script: string | null): void {
  if (!h.profile) throw new Error(`${h.name} has no profile: not a test-bed host`);
  const file = h.hookFile ?? path.join(path.dirname(path.dirname(h.profile)), 'hook');
  if (script === null) rmSync(file, { force: true });
  else writeFileSync(file, script);
}
