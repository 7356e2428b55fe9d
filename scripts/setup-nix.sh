#!/usr/bin/env bash
# Installs Nix (Debian's nix-bin) and writes a nix.conf that works as root, offline,
# without a daemon. Used by .ci/run and by `npm start` on Debian; safe to re-run.
set -euo pipefail
need=()
command -v nix >/dev/null || need+=(nix-bin)
command -v git >/dev/null || need+=(git)
command -v jq >/dev/null || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing: ${need[*]}. On Debian/Ubuntu run: sudo apt-get install ${need[*]}; elsewhere install Nix from https://nixos.org/download" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" ca-certificates >/dev/null
fi
if [ "$(id -u)" = 0 ] && ! grep -qs '^experimental-features.*flakes' /etc/nix/nix.conf; then
  mkdir -p /etc/nix
  cat > /etc/nix/nix.conf <<'CONF'
# Written by NixFleet's scripts/setup-nix.sh: single-user root store, offline.
sandbox = false
build-users-group =
experimental-features = nix-command flakes
substituters =
flake-registry =
warn-dirty = false
CONF
fi
nix --version
