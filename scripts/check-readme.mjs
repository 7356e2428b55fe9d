#!/usr/bin/env node
// Checks the README's "Try it" commands as written, on a fresh clone: clones this repository
// (its committed HEAD) into a temp dir and runs each command of the README's first ```sh
// block there, with `npm start` run as `npm start -- --check` (the demo's non-interactive
// self-check). `npm test` is skipped unless --with-tests is given (it runs the whole suite,
// e2e included, ~10+ min). npm reads packages from its cache first (npm_config_prefer_offline),
// so it works offline once the cache is warm. Not part of `npm test` (that would recurse).
//
//   node scripts/check-readme.mjs [--with-tests] [--keep]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
for (const a of args) {
  if (a !== '--with-tests' && a !== '--keep') {
    console.error(`check-readme: unknown argument "${a}"; options: --with-tests, --keep`);
    process.exit(2);
  }
}
const withTests = args.includes('--with-tests');
const keep = args.includes('--keep');

const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
const block = /```sh\n([\s\S]*?)```/.exec(readme);
if (!block) {
  console.error('check-readme: README.md has no ```sh block with the commands to try');
  process.exit(1);
}
const commands = block[1]
  .split('\n')
  .map((l) => l.replace(/#.*$/, '').trim())
  .filter(Boolean);
for (const expected of ['npm start', 'npm test']) {
  if (!commands.includes(expected)) {
    console.error(`check-readme: the README's first sh block does not have "${expected}" (it has: ${commands.join('; ')})`);
    process.exit(1);
  }
}

const dir = mkdtempSync(path.join(tmpdir(), 'nixfleet-readme-'));
const clone = path.join(dir, 'nixfleet');
const timings = [];
let failed = null;
function step(label, cmd, argv, cwd) {
  const t0 = Date.now();
  console.log(`check-readme: $ ${label}`);
  const env = { ...process.env, npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' };
  for (const k of Object.keys(env)) if (k.startsWith('npm_lifecycle') || k === 'npm_command') delete env[k];
  const r = spawnSync(cmd, argv, { cwd, stdio: 'inherit', env });
  const secs = (Date.now() - t0) / 1000;
  timings.push({ label, secs, ok: r.status === 0 });
  if (r.status !== 0) failed = `${label} exited ${r.status ?? r.signal}`;
  return r.status === 0;
}

const t0 = Date.now();
if (step(`git clone ${root} ${clone}`, 'git', ['clone', '-q', root, clone], dir)) {
  for (const c of commands) {
    if (c === 'npm test' && !withTests) {
      console.log('check-readme: (skipping npm test; pass --with-tests to run it)');
      continue;
    }
    const argv = c.split(/\s+/);
    if (c === 'npm start') argv.push('--', '--check');
    if (!step(argv.join(' '), argv[0], argv.slice(1), clone)) break;
  }
}
const total = (Date.now() - t0) / 1000;
console.log('\ncheck-readme: runtime');
for (const t of timings) console.log(`  ${t.ok ? 'ok  ' : 'FAIL'} ${t.secs.toFixed(1).padStart(6)} s  ${t.label}`);
console.log(`  total ${total.toFixed(1)} s`);
if (keep) console.log(`check-readme: kept ${dir}`);
else rmSync(dir, { recursive: true, force: true });
if (failed) {
  console.error(`check-readme: ${failed}`);
  process.exit(1);
}
console.log('check-readme: the README\'s commands work on a fresh clone');
