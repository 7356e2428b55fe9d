// `npm run package`: a production (minified) build of the extension bundle, then a .vsix with
// vsce (--no-dependencies: the bundle inlines its dependencies). Built and packaged in a
// private staging folder, so a concurrent `npm run build` writing dist/ cannot slip an
// unminified bundle into the package. Refuses a package of 1 MiB or more.
// vsce is a devDependency: `npm ci` installs it.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const outArg = process.argv.find((a) => a.startsWith('--out='))?.slice('--out='.length);
const out = path.resolve(outArg ?? path.join(root, `${pkg.name}-${pkg.version}.vsix`));

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`package: ${path.basename(cmd)} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

const vsce = path.join(root, 'node_modules/.bin/vsce');
if (!existsSync(vsce)) {
  console.error('package: node_modules/.bin/vsce not found: run npm ci (vsce is one of the devDependencies)');
  process.exit(1);
}

const stage = mkdtempSync(path.join(tmpdir(), 'nixfleet-package-'));
try {
  for (const f of ['package.json', '.vscodeignore', 'README.md', 'LICENSE', 'CHANGELOG.md', 'media']) {
    if (existsSync(path.join(root, f))) cpSync(path.join(root, f), path.join(stage, f), { recursive: true });
  }
  run(process.execPath, [path.join(root, 'scripts/build.mjs'), '--production', '--only=extension', `--outdir=${path.join(stage, 'dist')}`], root);
  // README.md links media/ and docs/ relatively (for the repository); the package keeps them as they are.
  run(vsce, ['package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '--no-rewrite-relative-links', '-o', out], stage);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
const size = statSync(out).size;
console.log(`package: ${path.relative(process.cwd(), out)} ${(size / 1024).toFixed(0)} KiB`);
if (size >= 1024 * 1024) {
  console.error(`package: ${out} is ${(size / 1024 / 1024).toFixed(2)} MiB; it must stay under 1 MiB: check .vscodeignore and the bundle's dependencies`);
  process.exit(1);
}
