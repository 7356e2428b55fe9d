// What differs between NixOS, nix-darwin and home-manager: the flake attribute that holds
// the system, the file naming its version, and how a built system is activated.
import type { Platform } from '../../protocol';

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
