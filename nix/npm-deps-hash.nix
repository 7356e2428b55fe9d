# Written by nix/npm-deps-hash.sh: hash of the runtime npm dependencies (see nix/package.nix).
"sha256-Gjd6mfsMSbRWqXRazbpzTbUSYjj2H5ame+TpWJaH/sk="
