#!/usr/bin/env bash
# Prints (or with --write, stores in nix/npm-deps-hash.nix) the hash of the agent's
# runtime npm dependencies as nix/package.nix fetches them: devDependencies pruned
# (nix/prune-dev-deps.cjs), then `npm ci --omit=dev --omit=optional --ignore-scripts
# --no-bin-links`, minus npm's own bookkeeping file.
# Run it after changing dependencies in package.json / package-lock.json:
#   bash nix/npm-deps-hash.sh --write
# Works offline when npm's cache already holds the packages (after `npm ci`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
write=0
case "${1-}" in
  "") ;;
  --write) write=1 ;;
  *) echo "usage: nix/npm-deps-hash.sh [--write]" >&2; exit 2 ;;
esac
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
cp -- "$root/package.json" "$root/package-lock.json" "$work/"
(
  cd "$work"
  node "$root/nix/prune-dev-deps.cjs"
  npm ci --omit=dev --omit=optional --ignore-scripts --no-bin-links --no-audit --no-fund \
    --prefer-offline --loglevel=error >/dev/null
)
rm -f -- "$work/node_modules/.package-lock.json"
# The derivation's output holds node_modules/ (see nix/package.nix).
mkdir -- "$work/out"
mv -- "$work/node_modules" "$work/out/node_modules"
hash=$(nix --extra-experimental-features nix-command hash path --type sha256 "$work/out")
if [ "$write" = 1 ]; then
  printf '# Written by nix/npm-deps-hash.sh: hash of the runtime npm dependencies (see nix/package.nix).\n"%s"\n' "$hash" >"$root/nix/npm-deps-hash.nix"
  echo "nix/npm-deps-hash.nix: $hash"
else
  echo "$hash"
fi
