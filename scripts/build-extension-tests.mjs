// Bundles the extension-host mocha suite (test/extension) into out/extension-tests/:
// index.js (exports run(), the extensionTestsPath convention) and suite/*.test.js.
// CommonJS, `vscode` and `mocha` external (mocha is resolved from node_modules at run time).
import { build } from 'esbuild';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const outdir = path.join(root, 'out/extension-tests');
rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
writeFileSync(path.join(outdir, 'package.json'), JSON.stringify({ type: 'commonjs' }) + '\n');

const suiteDir = path.join(root, 'test/extension/suite');
const entryPoints = {
  index: path.join(root, 'test/extension/index.ts'),
  ...Object.fromEntries(
    readdirSync(suiteDir)
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => [`suite/${f.replace(/\.ts$/, '')}`, path.join(suiteDir, f)]),
  ),
};

await build({
  entryPoints,
  outdir,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'inline',
  external: ['vscode', 'mocha'],
  inject: [path.join(root, 'scripts/import-meta-url.js')],
  define: { 'import.meta.url': 'import_meta_url' },
  logLevel: 'warning',
});
console.log(`extension tests built into ${path.relative(root, outdir)} (${Object.keys(entryPoints).length - 1} suites)`);
