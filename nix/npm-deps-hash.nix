# Written by nix/npm-deps-hash.sh: hash of the runtime npm dependencies (see nix/package.nix).
"sha256-WNlJXp3x+PMyu702/6GGeUOSaEGdb2gQDbRP+sNcPv4="
