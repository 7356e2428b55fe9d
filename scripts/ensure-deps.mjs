// Installs the locked npm dependencies when node_modules is missing or older than
// package-lock.json, so `npm test` and `npm start` work on a fresh clone (and after a pull
// that changed the lock) without a separate `npm ci`. Plain Node, no dependencies: it runs
// before there are any. npm records what it installed in node_modules/.package-lock.json,
// written after package-lock.json by both `npm ci` and `npm install`.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

/** Why node_modules must be (re)installed, or null when it is current. */
export function staleDependencies(root) {
  const installed = path.join(root, 'node_modules/.package-lock.json');
  if (!existsSync(installed)) return 'node_modules is missing';
  if (statSync(installed).mtimeMs < statSync(path.join(root, 'package-lock.json')).mtimeMs) {
    return 'package-lock.json is newer than node_modules';
  }
  return null;
}

/** Run `npm ci` in `root` when needed, saying why; false (after saying what to do) when it failed. */
export function ensureDependencies(root, who) {
  const why = staleDependencies(root);
  if (!why) return true;
  console.log(`${who}: ${why}; installing the locked dependencies (npm ci: about 30 s, longer on a busy machine)`);
  const t0 = Date.now();
  // The outer `npm test` / `npm start` describes its own script to it; not this npm's business.
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('npm_lifecycle') || k === 'npm_command') delete env[k];
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit', env });
  if (r.error || r.status !== 0) {
    console.error(`${who}: npm ci failed (${r.error ? r.error.message : `exit ${r.status}`}); fix what npm printed above (is the npm registry reachable?) and run it again`);
    return false;
  }
  console.log(`${who}: dependencies installed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return true;
}
