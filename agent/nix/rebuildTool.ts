// The argv for switchMethods other than `direct`: the host's own rebuild tool does build,
// profile and activation; the agent then reads the result from the profile.
import type { Platform, SwitchMethod } from '../../protocol';

export type ToolMethod = Exclude<SwitchMethod, 'direct'>;

/** Which platforms a tool can switch. */
export const TOOL_PLATFORMS: Record<ToolMethod, readonly Platform[]> = {
  'nixos-rebuild': ['nixos'],
  'darwin-rebuild': ['darwin'],
  'home-manager': ['home-manager'],
  nh: ['nixos', 'darwin', 'home-manager'],
};

/**
 * `flake` is a flake reference (see flakeRef), `host` the attribute name. Extra Nix options
 * (`--option K V`) go where each tool passes them on to nix: directly, or after `--` for nh.
 */
export function rebuildToolArgv(method: ToolMethod, platform: Platform, flake: string, host: string, nixOptions: string[] = []): string[] {
  if (!TOOL_PLATFORMS[method].includes(platform)) {
    throw new Error(`switchMethod ${method} cannot switch a ${platform} host; use ${platform === 'nixos' ? 'nixos-rebuild' : platform === 'darwin' ? 'darwin-rebuild' : 'home-manager'}, nh or direct`);
  }
  if (method === 'nh') {
    const sub = platform === 'nixos' ? 'os' : platform === 'darwin' ? 'darwin' : 'home';
    const which = platform === 'home-manager' ? '--configuration' : '--hostname';
    return ['nh', sub, 'switch', flake, which, host, ...(nixOptions.length ? ['--', ...nixOptions] : [])];
  }
  return [method, 'switch', '--flake', `${flake}#${host}`, ...nixOptions];
}
