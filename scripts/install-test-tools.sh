#!/usr/bin/env bash
# Installs the tools the e2e suite (test/e2e/) needs into the gitignored folder .tools/:
# code-server (VS Code's own server and web workbench; its extension host is VS Code's real
# Node extension host) and playwright-core (drives Debian's headless Chromium). They get their
# own package.json there so `npm ci` of the root stays light (vsce, which packages the .vsix,
# is a devDependency of the root: `npm run package` works right after `npm ci`). Idempotent:
# when the pinned versions are already installed it returns in about a second; the first
# install takes ~3 minutes on 2 cores (measured 195 s on a busy machine). Works on a bare
# Debian 12 machine as root with only the npm registry and Debian's packages reachable (see
# shared/VSCODE-E2E.md for why each step is needed).
#
# Usage: bash scripts/install-test-tools.sh [--force]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"

# code-server 4.100.3 (VS Code 1.100.3) is the last release whose engines accept Node 20.
CODE_SERVER_VERSION=4.100.3
PLAYWRIGHT_CORE_VERSION=1.65.1
# @vscode/ripgrep (a dependency of code-server's bundled VS Code) downloads rg from GitHub in
# its postinstall unless it finds this asset in its cache directory under $TMPDIR.
RIPGREP_PKG_VERSION=1.15.11
RIPGREP_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz

force=false
for arg in "$@"; do
  case "$arg" in
    --force) force=true ;;
    *) echo "install-test-tools: unknown argument \"$arg\"; the only option is --force (reinstall)" >&2; exit 2 ;;
  esac
done

log() { echo "install-test-tools: $*"; }

# The manifest written to .tools/package.json. allowScripts lists the dependencies whose
# install scripts must run (npm 11 blocks the others); older npm ignores the field and runs
# them all. argon2 must run: code-server loads it at every start (even with --auth none) and
# its package ships no binary; `node-pre-gyp --fallback-to-build` builds it from source when
# the download is refused, as it is here. Denied on purpose, because their scripts download
# binaries from GitHub and the tests do not need what they fetch: keytar (an optional
# credential store).
manifest=$(cat <<EOF
{
  "name": "nixfleet-test-tools",
  "private": true,
  "description": "VS Code e2e tools for NixFleet, installed by scripts/install-test-tools.sh; not part of the project's dependencies.",
  "dependencies": {
    "code-server": "$CODE_SERVER_VERSION",
    "playwright-core": "$PLAYWRIGHT_CORE_VERSION"
  },
  "allowScripts": {
    "code-server": true,
    "node-pty": true,
    "@vscode/ripgrep": true,
    "@vscode/spdlog": true,
    "@parcel/watcher": true,
    "kerberos": true,
    "native-watchdog": true,
    "@vscode/windows-registry": true,
    "@vscode/deviceid": true,
    "keytar": false,
    "argon2": true
  }
}
EOF
)
stamp="$tools/.installed"
want_stamp=$(printf '%s\nnode %s\n' "$manifest" "$(node -p process.versions.modules)" | sha256sum | cut -d' ' -f1)

installed_ok() {
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] || return 1
  [ -x "$tools/node_modules/.bin/code-server" ] || return 1
  [ -f "$tools/node_modules/playwright-core/package.json" ] || return 1
  # code-server's postinstall installs VS Code's own node_modules; without them it cannot start.
  [ -d "$tools/node_modules/code-server/lib/vscode/node_modules" ] || return 1
  code_server_starts
}

# A native module whose install script did not run shows only when code-server loads it.
code_server_starts() {
  XDG_CONFIG_HOME="$tools/.xdg" XDG_DATA_HOME="$tools/.xdg" \
    "$tools/node_modules/.bin/code-server" --version >/dev/null 2>&1
}

if ! $force && installed_ok; then
  log "code-server $CODE_SERVER_VERSION and playwright-core $PLAYWRIGHT_CORE_VERSION already installed in .tools/"
  exit 0
fi

# Debian packages: Chromium for the UI tests, the Kerberos headers and a compiler for
# code-server's native modules, ripgrep to seed @vscode/ripgrep's download cache.
need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v rg >/dev/null || need_apt+=(ripgrep)
[ -f /usr/include/krb5.h ] || [ -f /usr/include/gssapi/gssapi.h ] || need_apt+=(libkrb5-dev)
command -v make >/dev/null || need_apt+=(make)
command -v g++ >/dev/null || need_apt+=(g++)
command -v python3 >/dev/null || need_apt+=(python3)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install ${need_apt[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "install-test-tools: missing ${need_apt[*]}; install them with: sudo apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
fi

started=$(date +%s)
mkdir -p "$tools"
printf '%s\n' "$manifest" >"$tools/package.json"
rm -f "$stamp"

# Seed @vscode/ripgrep's cache with Debian's rg, packed the way the GitHub asset is (rg at the
# top of the tarball).
tmp="$tools/.tmp"
rm -rf "$tmp"
mkdir -p "$tmp/vscode-ripgrep-cache-$RIPGREP_PKG_VERSION" "$tmp/rg-asset"
cp "$(command -v rg)" "$tmp/rg-asset/rg"
tar -C "$tmp/rg-asset" -czf "$tmp/vscode-ripgrep-cache-$RIPGREP_PKG_VERSION/$RIPGREP_ASSET" rg

# code-server's postinstall refuses to run as root unless npm_config_unsafe_perm=true, a setting
# npm dropped in v7 (scripts simply run as the user running npm) and now warns about. So npm
# is not given it: the dependencies' install scripts get it from the shell npm runs them with
# (script-shell, a supported setting).
cat >"$tmp/script-shell" <<'SH'
#!/bin/sh
npm_config_unsafe_perm=true exec /bin/sh "$@"
SH
chmod +x "$tmp/script-shell"

log "npm install in .tools/ (code-server $CODE_SERVER_VERSION, playwright-core $PLAYWRIGHT_CORE_VERSION; about 3 minutes on 2 cores: native modules are compiled)"
(
  cd "$tools"
  # yes: node-pty's postinstall runs npx, which would otherwise prompt.
  TMPDIR="$tmp" \
  npm_config_script_shell="$tmp/script-shell" \
  npm_config_yes=true \
  npm_config_update_notifier=false \
    npm install --no-audit --no-fund
)

if ! [ -d "$tools/node_modules/code-server/lib/vscode/node_modules" ]; then
  echo "install-test-tools: code-server's postinstall did not install lib/vscode/node_modules; rerun with --force and read npm's output above" >&2
  exit 1
fi
if ! code_server_starts; then
  echo "install-test-tools: code-server was installed but does not start; run $tools/node_modules/.bin/code-server --version to see why (often a native module whose install script did not run)" >&2
  exit 1
fi
rm -rf "$tmp"
printf '%s\n' "$want_stamp" >"$stamp"
log "done in $(( $(date +%s) - started )) s"
