#!/usr/bin/env bash
# Current Nix beside Debian 12's Nix 2.8: a Debian 13 (trixie) chroot with its nix-bin (2.26),
# nodejs and git, built once with debootstrap and cached outside the repository. Trixie's
# nix-bin needs glibc 2.38, so it cannot be installed on Debian 12 itself.
#
#   bash scripts/nix-current.sh build            build the chroot unless the cached one is current
#   bash scripts/nix-current.sh run CMD [ARG...]  run CMD inside, in this checkout (bind-mounted
#                                                at the same path), with Nix 2.26 on PATH
#   bash scripts/nix-current.sh version          print `nix --version` inside
#
# Each `run` gets a private mount namespace (unshare -m): proc, dev, dev/pts and the checkout
# are mounted in it and vanish with it, so nothing stays mounted when a run fails or is killed.
# The chroot has its own /nix store: Nix 2.26 would upgrade the 2.8 store's database otherwise.
# Root only (debootstrap, chroot and mounts need it). NIXFLEET_CACHE_DIR moves the cache
# (default /var/cache/nixfleet); the chroot is $NIXFLEET_CACHE_DIR/trixie-chroot.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${NIXFLEET_CACHE_DIR:-/var/cache/nixfleet}
chroot_dir=$cache/trixie-chroot
mirror=http://deb.debian.org/debian
packages=(nix-bin nodejs git ca-certificates)
# The stamp names what the chroot was built from; a change here rebuilds it.
recipe="debootstrap --variant=minbase trixie $mirror; apt-get install ${packages[*]}; safe.directory *"
stamp=$chroot_dir/.nixfleet-chroot

log() { echo "nix-current: $*"; }
die() { echo "nix-current: $*" >&2; exit 1; }

usage="usage: bash scripts/nix-current.sh build | run CMD [ARG...] | version"
[ $# -ge 1 ] || die "$usage"
cmd=$1
shift

need_root() {
  [ "$(id -u)" = 0 ] || die "building and entering the Nix 2.26 chroot needs root (debootstrap, chroot, mounts); run it as root, e.g. sudo bash scripts/nix-current.sh $cmd"
}

is_current() { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$recipe" ] && [ -x "$chroot_dir/usr/bin/nix" ]; }

build() {
  need_root
  is_current && return 0
  command -v debootstrap >/dev/null || die "debootstrap is missing: run bash scripts/setup.sh (or apt-get install debootstrap)"
  mkdir -p "$cache"
  # One builder at a time; a second caller waits and then finds the chroot current.
  exec 9>"$cache/trixie-chroot.lock"
  flock 9
  is_current && return 0
  local t0 new=$chroot_dir.new
  t0=$(date +%s)
  log "building a Debian 13 chroot with Nix 2.26 in $chroot_dir (debootstrap; a few minutes, once)"
  rm -rf "$new"
  # Built beside the cached one and moved into place at the end, so an interrupted build never
  # looks finished. The mount namespace drops whatever debootstrap or apt leave mounted.
  unshare --mount --propagation private -- bash -euo pipefail -c '
    new=$1 mirror=$2; shift 2
    debootstrap --variant=minbase trixie "$new" "$mirror" >"$new.log" 2>&1 || { tail -n 20 "$new.log" >&2; exit 1; }
    mount -t proc proc "$new/proc"
    mount --bind /dev "$new/dev"
    mount --bind /dev/pts "$new/dev/pts"
    chroot "$new" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
      sh -euc "apt-get update -qq && apt-get install -y -qq --no-install-recommends \"\$@\" >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*" sh "$@"
    chroot "$new" git config --system --add safe.directory "*"
  ' build "$new" "$mirror" "${packages[@]}"
  rm -f "$new.log"
  printf '%s\n' "$recipe" >"$new/.nixfleet-chroot"
  rm -rf "$chroot_dir"
  mv "$new" "$chroot_dir"
  log "built in $(( $(date +%s) - t0 )) s: $(enter nix --version)"
}

# Runs "$@" inside the chroot, in the checkout, in a private mount namespace.
enter() {
  need_root
  is_current || die "the Nix 2.26 chroot is not built (or out of date): run bash scripts/nix-current.sh build"
  [ -f /etc/nix/nix.conf ] || die "/etc/nix/nix.conf is missing: run bash scripts/setup.sh nix (the chroot uses the same settings)"
  mkdir -p "$chroot_dir/etc/nix" "$chroot_dir$root"
  cp /etc/nix/nix.conf "$chroot_dir/etc/nix/nix.conf"
  local -a pass=()
  local v
  # NIXFLEET_* settings (e.g. NIXFLEET_REPO_ROOT) and the terminal reach the command; the host's
  # PATH does not (its nix is 2.8).
  for v in $(compgen -e); do
    case $v in NIXFLEET_*|TERM|NODE_OPTIONS|CI) pass+=("$v=${!v}") ;; esac
  done
  unshare --mount --propagation private -- bash -euo pipefail -c '
    dir=$1 root=$2; shift 2
    mount -t proc proc "$dir/proc"
    mount --bind /dev "$dir/dev"
    mount --bind /dev/pts "$dir/dev/pts"
    mount --bind "$root" "$dir$root"
    exec chroot "$dir" /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$root" "$@"
  ' enter "$chroot_dir" "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TMPDIR=/tmp \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${pass[@]}" "$@"
}

case $cmd in
  build) [ $# -eq 0 ] || die "$usage"; build ;;
  run) [ $# -ge 1 ] || die "$usage"; enter "$@" ;;
  version) [ $# -eq 0 ] || die "$usage"; enter nix --version ;;
  *) die "unknown command \"$cmd\"; $usage" ;;
esac
