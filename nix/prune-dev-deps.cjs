// Removes devDependencies from package.json and package-lock.json in the current directory,
// so that `npm ci --omit=dev` for the agent's runtime dependencies depends on nothing else:
// a dev-only tool with a quirky lock entry cannot break the agent's Nix build, and the
// fixed-output hash (nix/npm-deps-hash.nix) changes only when runtime dependencies do.
// Used by nix/package.nix and nix/npm-deps-hash.sh alike.
'use strict';
const fs = require('node:fs');

const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
delete pkg.devDependencies;
delete pkg.scripts;
fs.writeFileSync('package.json', JSON.stringify(pkg, null, 2) + '\n');

const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8'));
if (lock.lockfileVersion < 2 || !lock.packages) {
  console.error('prune-dev-deps: package-lock.json must be lockfileVersion 2 or 3 (npm 7+)');
  process.exit(1);
}
delete lock.packages[''].devDependencies;
for (const [key, entry] of Object.entries(lock.packages)) {
  // "dev": only needed by devDependencies. ("devOptional" entries stay: they may be
  // optional dependencies of runtime packages.)
  if (key !== '' && entry.dev === true) delete lock.packages[key];
}
delete lock.dependencies; // the lockfileVersion 2 mirror of "packages"
fs.writeFileSync('package-lock.json', JSON.stringify(lock, null, 2) + '\n');
