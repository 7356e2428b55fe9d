# Written by nix/npm-deps-hash.sh: hash of the runtime npm dependencies (see nix/package.nix).
"sha256-hDo0Rlr1Hmw7xVk92RuNYabZOfr9uXYA3ZE2FvEnPnI="
