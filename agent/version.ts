// Replaced at bundle time by scripts/build.mjs; tests running from source read package.json.
declare const __NIXFLEET_VERSION__: string | undefined;

export const AGENT_VERSION: string =
  typeof __NIXFLEET_VERSION__ === 'string' ? __NIXFLEET_VERSION__ : (process.env.NIXFLEET_SOURCE_VERSION ?? '0.0.0-source');
