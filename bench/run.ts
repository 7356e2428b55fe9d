// `npm run bench`: runs every bench/*.bench.ts in turn as `node --import tsx <file>`,
// passing its output through. Each bench prints `<name>: <ratio>x ...` lines against a
// baseline run side by side. `npm run bench -- stream` runs the benches whose file
// name contains "stream". Exit status is non-zero when a bench crashed.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

const dir = import.meta.dirname;
const root = path.resolve(dir, '..');
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => !filters.length || filters.some((w) => f.includes(w)))
  .sort();
if (!files.length) {
  console.error(`no bench matches ${filters.join(', ')}; benches are bench/*.bench.ts`);
  process.exit(2);
}
// Benches that start the agent use the bundle: build it first.
const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(1);
let crashed = 0;
for (const f of files) {
  console.log(`# ${f}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(dir, f)], { cwd: root, stdio: 'inherit', env: { ...process.env, NIXFLEET_REPO_ROOT: root } });
  if (r.status !== 0) {
    crashed++;
    console.log(`${f.replace(/\.bench\.ts$/, '')}: crashed (exit ${r.status ?? r.signal})`);
  }
}
process.exit(crashed ? 1 : 0);
