#!/usr/bin/env bash
# nixfleet-update: update the NixFleet agent on this host without the agent's help,
# for when the running agent is broken (or gone). Steps:
#   1. git pull --ff-only in the host's nixcfg checkout
#   2. update the flake input pinning NixFleet (Nix < 2.19: `nix flake lock --update-input`,
#      newer: `nix flake update NAME --flake DIR`)
#   3. rebuild and switch with the platform's command (switchMethod "direct": nix build,
#      nix-env --set, activate, as the agent does), skipped when nothing changed unless --force
#   4. --verify: fail unless the agent's version changed
# Settings come from the agent's config (--config FILE; default /etc/nixfleet-agent/config.json,
# then ~/.config/nixfleet-agent/config.json); --flake/--host/--platform/--input override it.
# Every value is validated and passed as its own argument: no string is ever run by a shell.
set -euo pipefail

prog=nixfleet-update
usage() {
  cat <<'USAGE'
usage: nixfleet-update [--force] [--dry-run] [--verify] [--config FILE]
                       [--flake DIR] [--host NAME] [--platform nixos|darwin|home-manager]
                       [--input NAME] [--switch-method METHOD] [--profile PATH]
  --force     rebuild even when nothing changed, ignoring cached "not in the binary cache" answers
  --dry-run   print the commands that would run; change nothing
  --verify    fail unless the agent's version differs after the update
USAGE
}
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }
usage_error() { printf '%s: %s\n' "$prog" "$*" >&2; usage >&2; exit 2; }
# Quote an untrusted value for a message so it cannot forge lines.
q() { printf '%q' "$1"; }

force=0 dry_run=0 verify=0
config="" flake="" host="" platform="" input="" method="" profile=""
while [ $# -gt 0 ]; do
  arg=$1
  case "$arg" in
    --force) force=1 ;;
    --dry-run) dry_run=1 ;;
    --verify) verify=1 ;;
    -h|--help) usage; exit 0 ;;
    --config|--flake|--host|--platform|--input|--switch-method|--profile)
      [ $# -ge 2 ] || usage_error "$arg needs a value"
      value=$2; shift
      case "$arg" in
        --config) config=$value ;;
        --flake) flake=$value ;;
        --host) host=$value ;;
        --platform) platform=$value ;;
        --input) input=$value ;;
        --switch-method) method=$value ;;
        --profile) profile=$value ;;
      esac ;;
    *) usage_error "unknown argument $(q "$arg")" ;;
  esac
  shift
done

# ---- configuration -------------------------------------------------------------------
if [ -z "$config" ]; then
  for candidate in /etc/nixfleet-agent/config.json "${XDG_CONFIG_HOME:-${HOME:-/nonexistent}/.config}/nixfleet-agent/config.json"; do
    if [ -f "$candidate" ]; then config=$candidate; break; fi
  done
fi
from_config() {
  [ -n "$config" ] || return 0
  jq -r --arg k "$1" 'if type == "object" and (.[$k] | type) == "string" then .[$k] else empty end' -- "$config"
}
if [ -n "$config" ]; then
  [ -r "$config" ] || die "cannot read the agent config $(q "$config"); pass --config FILE or --flake/--host/--platform"
  jq -e 'type == "object"' -- "$config" >/dev/null 2>&1 || die "agent config $(q "$config") is not a JSON object"
  [ -n "$flake" ] || flake=$(from_config flake)
  [ -n "$host" ] || host=$(from_config host)
  [ -n "$platform" ] || platform=$(from_config platform)
  [ -n "$input" ] || input=$(from_config agentInput)
  [ -n "$method" ] || method=$(from_config switchMethod)
  [ -n "$profile" ] || profile=$(from_config profile)
  state_dir=$(from_config stateDir)
else
  state_dir=""
fi
input=${input:-nixfleet}
method=${method:-direct}

# ---- validation (the same patterns as protocol/patterns.ts) ---------------------------
[ -n "$flake" ] || usage_error "no nixcfg checkout: pass --flake DIR or --config FILE (none found in /etc/nixfleet-agent/config.json)"
[ -n "$host" ] || usage_error "no host: pass --host NAME or --config FILE"
[ -n "$platform" ] || usage_error "no platform: pass --platform nixos|darwin|home-manager or --config FILE"
abs_path_ok() { case "$1" in /*) ;; *) return 1 ;; esac; case "/$1/" in */../*|*/./*) return 1 ;; esac; }
abs_path_ok "$flake" || die "--flake must be an absolute path without . or .. components, not $(q "$flake")"
[[ $host =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}(@[A-Za-z0-9_][A-Za-z0-9_-]{0,62})?$ ]] \
  || die "host $(q "$host") is not a flake attribute name (letters, digits, _ and -; home-manager: user@host)"
[[ $input =~ ^[A-Za-z_][A-Za-z0-9_-]{0,62}$ ]] || die "flake input $(q "$input") is not an input name such as nixfleet"
case "$platform" in nixos|darwin|home-manager) ;; *) die "platform $(q "$platform") must be nixos, darwin or home-manager" ;; esac
case "$method" in direct|nixos-rebuild|darwin-rebuild|home-manager|nh) ;; *) die "switch method $(q "$method") must be direct, nixos-rebuild, darwin-rebuild, home-manager or nh" ;; esac
if [ -z "$profile" ]; then
  if [ "$platform" = home-manager ]; then profile="${HOME:?HOME is not set}/.local/state/nix/profiles/home-manager"
  else profile=/nix/var/nix/profiles/system; fi
fi
abs_path_ok "$profile" || die "--profile must be an absolute path, not $(q "$profile")"
[ -d "$flake/.git" ] || die "$(q "$flake") is not a git checkout of your nixcfg (no .git); pass --flake with the host's checkout"
[ -f "$flake/flake.nix" ] || die "$(q "$flake") has no flake.nix"
[ -f "$flake/flake.lock" ] || die "$(q "$flake") has no flake.lock; run 'nix flake lock' there and commit it"
jq -e --arg i "$input" '.nodes.root.inputs | has($i)' -- "$flake/flake.lock" >/dev/null \
  || die "the nixcfg flake in $(q "$flake") has no input named $(q "$input"); add 'inputs.$input.url = ...' to its flake.nix (see README, \"Install on hosts\")"

# ---- Nix version → CLI -----------------------------------------------------------------
nix_version=$(nix --version) || die "nix is not on PATH"
[[ $nix_version =~ ([0-9]+)\.([0-9]+) ]] || die "cannot read the Nix version from $(q "$nix_version")"
nix_major=${BASH_REMATCH[1]} nix_minor=${BASH_REMATCH[2]}
if [ "$nix_major" -gt 2 ] || { [ "$nix_major" -eq 2 ] && [ "$nix_minor" -ge 19 ]; }; then
  update_cmd=(nix flake update "$input" --flake "$flake")
else
  update_cmd=(nix flake lock --update-input "$input" "$flake")
fi

# ---- what to build and how to switch ----------------------------------------------------
case "$platform" in
  nixos) attr="nixosConfigurations.$host.config.system.build.toplevel"; rebuild=nixos-rebuild ;;
  darwin) attr="darwinConfigurations.$host.system"; rebuild=darwin-rebuild ;;
  home-manager) attr="homeConfigurations.\"$host\".activationPackage"; rebuild=home-manager ;;
esac
nix_opts=()
if [ "$force" = 1 ]; then nix_opts=(--option narinfo-cache-negative-ttl 0); fi
if [ "$method" != direct ]; then
  # nh is a front end to the same rebuild; the platform's own command needs nothing more.
  rebuild_cmd=("$rebuild" switch --flake "$flake#$host" "${nix_opts[@]}")
fi

show() { printf '+'; printf ' %q' "$@"; printf '\n'; }
run() { show "$@"; if [ "$dry_run" = 0 ]; then "$@"; fi; }

agent_bin_in() {  # the nixfleet-agent a generation ships, if any
  local gen=$1
  for candidate in "$gen/sw/bin/nixfleet-agent" "$gen/home-path/bin/nixfleet-agent"; do
    if [ -x "$candidate" ]; then printf '%s\n' "$candidate"; return 0; fi
  done
  command -v nixfleet-agent || true
}
agent_version() {
  local bin
  bin=$(agent_bin_in "$profile")
  if [ -z "$bin" ]; then echo "none"; return; fi
  "$bin" --version 2>/dev/null | head -n 1 || echo "unknown"
}

# ---- the host lock: never run beside an agent op ----------------------------------------
lock=""
release_lock() { if [ -n "$lock" ]; then rm -f -- "$lock"; fi; }
take_lock() {
  # Same file and JSON as the agent's lock (agent/runner/lock.ts): {op, kind, pid, since}.
  [ -n "$state_dir" ] && [ -d "$state_dir" ] || return 0
  local file="$state_dir/lock" pid seen
  if [ -f "$file" ]; then
    seen=$(cat -- "$file" 2>/dev/null || true)
    pid=$(jq -r '.pid // empty' <<<"$seen" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && [ "$pid" -gt 0 ] && kill -0 "$pid" 2>/dev/null; then
      die "busy: $(jq -r '"\(.kind // "an op") \(.op // "") running since \(.since // "?")"' <<<"$seen" 2>/dev/null || echo "an op is running") (lock $(q "$file")); wait for it to finish or cancel it, then run nixfleet-update again"
    fi
    # Stale: its holder is gone. Remove it under the agent's takeover guard, and only if it
    # is still the lock we read (another process may have replaced it meanwhile).
    if ( set -o noclobber; : >"$file.takeover" ) 2>/dev/null; then
      if [ "$(cat -- "$file" 2>/dev/null || true)" = "$seen" ]; then rm -f -- "$file"; fi
      rm -f -- "$file.takeover"
    fi
  fi
  # The lock appears with its content in place (a hard link of a written file, which fails
  # like O_EXCL when the lock exists), so no reader ever sees it empty.
  local tmp="$file.$$.tmp"
  ( umask 077; printf '{"op":"nixfleet-update-%d","kind":"self-update","pid":%d,"since":"%s"}\n' \
      "$$" "$$" "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" >"$tmp" )
  if ln -- "$tmp" "$file" 2>/dev/null; then
    rm -f -- "$tmp"
    lock=$file
    trap release_lock EXIT
  else
    rm -f -- "$tmp"
    die "busy: another process took the host lock $(q "$file") just now; try again"
  fi
}
if [ "$dry_run" = 0 ]; then take_lock; fi

# ---- 1. pull ---------------------------------------------------------------------------
before_head=$(git -C "$flake" rev-parse HEAD) || die "cannot read HEAD of $(q "$flake")"
before_lock=$(cat -- "$flake/flake.lock")
before_version=$(agent_version)
if [ -n "$(git -C "$flake" status --porcelain -- flake.lock)" ]; then
  die "flake.lock in $(q "$flake") has uncommitted changes (from an earlier update?): commit them (git -C $(q "$flake") commit flake.lock -m 'Update nixfleet') or discard them (git -C $(q "$flake") checkout flake.lock), then run nixfleet-update again"
fi
if git -C "$flake" rev-parse --abbrev-ref --symbolic-full-name '@{upstream}' >/dev/null 2>&1; then
  run git -C "$flake" pull --ff-only
else
  printf '%s: %s has no upstream branch; not pulling\n' "$prog" "$(q "$flake")" >&2
fi

# ---- 2. update the input -------------------------------------------------------------------
run "${update_cmd[@]}"

changed=1
if [ "$dry_run" = 0 ] && [ "$force" = 0 ] && [ "$(git -C "$flake" rev-parse HEAD)" = "$before_head" ] \
   && [ "$(cat -- "$flake/flake.lock")" = "$before_lock" ]; then
  changed=0
fi

# ---- 3. rebuild ------------------------------------------------------------------------------
if [ "$changed" = 0 ]; then
  echo "$prog: $host is up to date (no new commits, input $input unchanged); nothing to rebuild. Use --force to rebuild anyway."
elif [ "$method" != direct ]; then
  command -v "$rebuild" >/dev/null || [ "$dry_run" = 1 ] || die "$rebuild is not on PATH; run nixfleet-update on the host itself, or set switchMethod to direct"
  run "${rebuild_cmd[@]}"
else
  build_cmd=(nix build --json --no-link "${nix_opts[@]}" "$flake#$attr")
  if [ "$dry_run" = 1 ]; then
    show "${build_cmd[@]}"
    out="<built path>"
  else
    show "${build_cmd[@]}"
    out=$("${build_cmd[@]}" | jq -r '.[0].outputs.out') || die "building $attr failed for $host; the nixcfg checkout is updated, fix the build and run nixfleet-update --force"
    [[ $out =~ ^/nix/store/[^/]+$ ]] || die "nix build gave no store path for $attr (got $(q "$out"))"
  fi
  run nix-env -p "$profile" --set "$out"
  case "$platform" in
    nixos) run "$out/bin/switch-to-configuration" switch ;;
    darwin)
      # nix-darwin before 25.05 also has a per-user part.
      if [ "$dry_run" = 0 ] && [ -x "$out/activate-user" ]; then run "$out/activate-user"; fi
      run "$out/activate" ;;
    home-manager) run "$out/activate" ;;
  esac
fi

# ---- 4. verify -------------------------------------------------------------------------------
if [ "$dry_run" = 1 ]; then
  if [ "$verify" = 1 ]; then echo "$prog: would compare the agent version ($before_version) before and after"; fi
  exit 0
fi
after_version=$(agent_version)
echo "$prog: agent version $before_version -> $after_version"
if [ "$verify" = 1 ] && [ "$after_version" = "$before_version" ]; then
  die "verify failed on $host: the agent's version is still $before_version after the update; check that input $input moved (git -C $(q "$flake") diff HEAD -- flake.lock) and that a binary cache did not serve a stale build (run with --force)"
fi
