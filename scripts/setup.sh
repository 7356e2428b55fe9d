#!/usr/bin/env bash
# Installs what NixFleet's tests and demo need on Debian 12, as root; elsewhere (or not as root)
# it checks and says what to install. Used by .ci/run, `npm test` (test/run.mjs) and `npm start`
# (scripts/demo.mjs, the `nix` part). Safe to re-run: when everything is there it only checks
# (dpkg's database, stamps), in well under a second.
#
#   bash scripts/setup.sh [PART...]     no PART: all of them
#
# Parts:
#   nix          Debian's nix-bin (Nix 2.8), git, jq and an /etc/nix/nix.conf that works as root,
#                offline, without a daemon
#   packages     the Debian packages the tests use (nix's, plus sshd, iproute2, openssl,
#                Chromium, nats-server 2.9, debootstrap, faketime, stress-ng, ...)
#   nats-2.10    Debian 13's nats-server 2.10 unpacked (not installed) into the cache:
#                $NIXFLEET_CACHE_DIR/nats-server-2.10/nats-server, for the client features that
#                need a 2.10 server; tests find it there (test/run.mjs also exports its path as
#                NIXFLEET_NATS_SERVER_2_10). nats-server on PATH is Debian 12's 2.9.10.
#   nix-current  the Debian 13 chroot with Nix 2.26 (scripts/nix-current.sh build)
#   tools        the VS Code test tools in .tools/ (scripts/install-test-tools.sh)
# NIXFLEET_CACHE_DIR (default /var/cache/nixfleet) holds what is kept outside the repository.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${NIXFLEET_CACHE_DIR:-/var/cache/nixfleet}
export DEBIAN_FRONTEND=noninteractive

all_parts=(nix packages nats-2.10 nix-current tools)
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=("${all_parts[@]}")
for p in "${parts[@]}"; do
  case " ${all_parts[*]} " in *" $p "*) ;; *) echo "setup: unknown part \"$p\"; choose from: ${all_parts[*]}" >&2; exit 2 ;; esac
done
want() { case " ${parts[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

log() { echo "setup: $*"; }
die() { echo "setup: $*" >&2; exit 1; }

is_root=false
[ "$(id -u)" = 0 ] && is_root=true
debian=false
[ -f /etc/debian_version ] && command -v apt-get >/dev/null && command -v dpkg-query >/dev/null && debian=true

# Debian package → a command (or file) that shows it is there, for machines without dpkg.
declare -A probe=(
  [nix-bin]=nix [git]=git [jq]=jq [ca-certificates]=/etc/ssl/certs/ca-certificates.crt
  [openssl]=openssl [iproute2]=ip [openssh-client]=ssh [openssh-server]=/usr/sbin/sshd
  [chromium]=chromium [libkrb5-dev]=krb5-config [ripgrep]=rg [nats-server]=nats-server
  [debootstrap]=debootstrap [faketime]=faketime [stress-ng]=stress-ng
)
nix_packages=(nix-bin git jq ca-certificates)
# The tests run their own sshd, nats-server and Chromium; libkrb5-dev builds code-server's
# kerberos module; ripgrep seeds @vscode/ripgrep; debootstrap builds the Nix 2.26 chroot;
# faketime and stress-ng drive the reliability scenarios (clock jumps, a loaded machine).
test_packages=("${nix_packages[@]}" openssl iproute2 openssh-client openssh-server chromium libkrb5-dev
  ripgrep nats-server debootstrap faketime stress-ng)

# A package counts as there when dpkg has it installed, or when what it provides is there
# anyway (Nix from the upstream installer, a Chromium from elsewhere).
missing_packages() {
  local p installed=
  # One dpkg-query for all: it lists the installed ones ("ii "); unknown names only go to stderr.
  $debian && installed=$(dpkg-query -W -f='${db:Status-Abbrev}${Package}\n' "$@" 2>/dev/null | sed -n 's/^ii *//p' || true)
  for p in "$@"; do
    grep -qx -- "$p" <<<"$installed" && continue
    case ${probe[$p]} in /*) [ -e "${probe[$p]}" ] ;; *) command -v "${probe[$p]}" >/dev/null ;; esac || echo "$p"
  done
}

install_packages() {
  local -a need
  mapfile -t need < <(missing_packages "$@")
  [ ${#need[@]} -gt 0 ] || return 0
  if ! $debian; then
    die "missing: ${need[*]} (Debian package names). Install them with your system's package manager; for Nix, the installer from https://nixos.org/download with experimental-features = nix-command flakes"
  fi
  $is_root || die "missing Debian packages: ${need[*]}. Install them with: sudo apt-get install ${need[*]}   (or run: sudo bash scripts/setup.sh)"
  log "apt-get install ${need[*]}"
  apt-get update -qq
  # A new openssh-server or nats-server must not start (or enable) a system service: the
  # tests run their own on loopback. policy-rc.d tells the package's scripts not to start services.
  local policy=false
  if printf '%s\n' "${need[@]}" | grep -qxE 'openssh-server|nats-server' && [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=true
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  if $policy; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
    if [ -d /run/systemd/system ]; then
      printf '%s\n' "${need[@]}" | grep -qx openssh-server && { systemctl disable --quiet ssh.service ssh.socket 2>/dev/null || true; }
      printf '%s\n' "${need[@]}" | grep -qx nats-server && { systemctl disable --quiet nats-server.service 2>/dev/null || true; }
    fi
  fi
}

nix_conf() {
  grep -qs '^experimental-features.*flakes' /etc/nix/nix.conf && return 0
  # Not root: flakes may be on in the user's own nix.conf.
  $is_root || ! nix show-config 2>/dev/null | grep -q '^experimental-features = .*flakes' || return 0
  $is_root || die "/etc/nix/nix.conf does not enable flakes: as root run bash scripts/setup.sh nix, or add \"experimental-features = nix-command flakes\" to ~/.config/nix/nix.conf"
  mkdir -p /etc/nix
  cat >/etc/nix/nix.conf <<'CONF'
# Written by NixFleet's scripts/setup.sh: single-user root store, offline.
sandbox = false
build-users-group =
experimental-features = nix-command flakes
substituters =
flake-registry =
warn-dirty = false
CONF
}

# Debian 13's nats-server, fetched with apt-get from a trixie source list in a private apt dir
# (the system's sources and package database are not touched) and unpacked with dpkg-deb.
nats_210() {
  local dir=$cache/nats-server-2.10 bin
  bin=$dir/nats-server
  if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q '^nats-server: v2\.10\.'; then return 0; fi
  $debian && $is_root || die "nats-server 2.10 is not in $dir: as root on Debian run bash scripts/setup.sh nats-2.10 (it fetches Debian 13's package into that folder)"
  local apt=$cache/apt-trixie t0
  t0=$(date +%s)
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
  echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main' >"$apt/sources.list"
  local -a opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$apt/lists"
    -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root -qq)
  apt-get "${opts[@]}" update
  rm -f "$apt/debs"/*.deb
  (cd "$apt/debs" && apt-get "${opts[@]}" download nats-server)
  rm -rf "$dir.new"
  mkdir -p "$dir.new"
  dpkg-deb -x "$apt/debs"/nats-server_*.deb "$dir.new/root"
  ln -s root/usr/sbin/nats-server "$dir.new/nats-server"
  "$dir.new/nats-server" --version | grep -q '^nats-server: v2\.10\.' || die "Debian 13's nats-server is not 2.10 ($("$dir.new/nats-server" --version)); update scripts/setup.sh"
  rm -rf "$dir"
  mv "$dir.new" "$dir"
  log "$("$bin" --version) unpacked into $dir in $(( $(date +%s) - t0 )) s"
}

if want nix || want packages; then
  if want packages; then install_packages "${test_packages[@]}"; else install_packages "${nix_packages[@]}"; fi
  nix_conf
fi
want nats-2.10 && nats_210
if want nix-current; then
  install_packages debootstrap
  bash "$root/scripts/nix-current.sh" build
fi
want tools && bash "$root/scripts/install-test-tools.sh"
exit 0
