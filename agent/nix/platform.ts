// What differs between NixOS, nix-darwin and home-manager: the flake attribute that holds
// the system, the file naming its version, and how a built system is activated.
import { existsSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import type { Platform } from '../../protocol';

/**
 * Where the platform's profile lives when the config names none. home-manager keeps its
 * generations in the user's profile directory, which moved with Nix 2.14: Nix 2.26 (and
 * home-manager on it) uses $XDG_STATE_HOME/nix/profiles (~/.local/state/nix/profiles), Nix
 * before 2.14 /nix/var/nix/profiles/per-user/$USER. Like home-manager itself, take the new
 * directory when it exists, else the old one when it exists, else the new one.
 */
export function defaultProfile(
  platform: Platform,
  env: { home?: string; user?: string; xdgStateHome?: string; nixStateDir?: string } = {},
): string {
  if (platform !== 'home-manager') return '/nix/var/nix/profiles/system';
  const home = env.home ?? homedir();
  const stateHome = env.xdgStateHome ?? (process.env.XDG_STATE_HOME?.startsWith('/') ? process.env.XDG_STATE_HOME : path.join(home, '.local/state'));
  const current = path.join(stateHome, 'nix/profiles');
  const legacy = path.join(env.nixStateDir ?? process.env.NIX_STATE_DIR ?? '/nix/var/nix', 'profiles/per-user', env.user ?? userInfo().username);
  const dir = !existsSync(current) && existsSync(legacy) ? legacy : current;
  return path.join(dir, 'home-manager');
}

/**
 * The link activation points at the system it activated: /run/current-system on NixOS and
 * nix-darwin; home-manager's activation keeps gcroots/current-home in its state directory
 * ($XDG_STATE_HOME/home-manager, or /nix/var/nix/gcroots/per-user/$USER before it moved).
 */
export function defaultRunningSystem(
  platform: Platform,
  env: { home?: string; user?: string; xdgStateHome?: string; nixStateDir?: string } = {},
): string {
  if (platform !== 'home-manager') return '/run/current-system';
  const home = env.home ?? homedir();
  const stateHome = env.xdgStateHome ?? (process.env.XDG_STATE_HOME?.startsWith('/') ? process.env.XDG_STATE_HOME : path.join(home, '.local/state'));
  const current = path.join(stateHome, 'home-manager/gcroots/current-home');
  const legacy = path.join(env.nixStateDir ?? process.env.NIX_STATE_DIR ?? '/nix/var/nix', 'gcroots/per-user', env.user ?? userInfo().username, 'current-home');
  return !existsSync(current) && existsSync(legacy) ? legacy : current;
}

/** Flake attribute of the host's system. Quoted so "user@host" stays one attribute. */
export function systemAttr(platform: Platform, host: string): string {
  const h = JSON.stringify(host);
  switch (platform) {
    case 'nixos':
      return `nixosConfigurations.${h}.config.system.build.toplevel`;
    case 'darwin':
      return `darwinConfigurations.${h}.system`;
    case 'home-manager':
      return `homeConfigurations.${h}.activationPackage`;
  }
}

/** The file inside a system's store path that holds its version string. */
export function versionFile(platform: Platform): string {
  return platform === 'nixos' ? 'nixos-version' : platform === 'darwin' ? 'darwin-version' : 'hm-version';
}

/**
 * The commands that activate a built system, in order. nix-darwin before 24.11 had a
 * separate `activate-user` (run first); callers skip a script the system does not have.
 */
export function activationCommands(platform: Platform, storePath: string): { argv: string[]; optional: boolean }[] {
  switch (platform) {
    case 'nixos':
      return [{ argv: [`${storePath}/bin/switch-to-configuration`, 'switch'], optional: false }];
    case 'darwin':
      return [
        { argv: [`${storePath}/activate-user`], optional: true },
        { argv: [`${storePath}/activate`], optional: false },
      ];
    case 'home-manager':
      return [{ argv: [`${storePath}/activate`], optional: false }];
  }
}
