// Bundles the extension, the agent and the controller CLI, each into one file under dist/.
// The root package is "type": "module" (so tests can import ESM-only dependencies);
// dist/ holds CommonJS bundles, marked as such by dist/package.json, because VS Code
// loads extensions with require().
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const version = process.env.NIXFLEET_BUILD_VERSION || pkg.version;
const production = process.argv.includes('--production');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const outdir = process.argv.find((a) => a.startsWith('--outdir='))?.slice('--outdir='.length) || 'dist';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: production ? false : 'linked',
  minify: production,
  legalComments: 'none',
  logLevel: 'warning',
  define: { __NIXFLEET_VERSION__: JSON.stringify(version) },
  // ESM dependencies read import.meta.url; give them the CommonJS equivalent.
  inject: [new URL('./import-meta-url.js', import.meta.url).pathname],
  alias: {},
};
common.define['import.meta.url'] = 'import_meta_url';

mkdirSync(outdir, { recursive: true });
writeFileSync(`${outdir}/package.json`, JSON.stringify({ type: 'commonjs' }) + '\n');

const targets = {
  agent: { entryPoints: { agent: 'agent/main.ts' }, banner: { js: '#!/usr/bin/env node' } },
  extension: { entryPoints: { extension: 'src/extension.ts' }, external: ['vscode'] },
  // The controller CLI: the extension's vscode-free core (src/fleet, src/deploy) behind src/cli.
  nixfleet: { entryPoints: { nixfleet: 'src/cli/main.ts' }, banner: { js: '#!/usr/bin/env node' } },
};
for (const [name, opts] of Object.entries(targets)) {
  if (only && only !== name) continue;
  await build({ ...common, ...opts, outdir });
}
