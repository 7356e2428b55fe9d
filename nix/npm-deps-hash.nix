# Written by nix/npm-deps-hash.sh: hash of the runtime npm dependencies (see nix/package.nix).
"sha256-RzSKaJEz9TMftiZHGuEZjkK5NUsJZ+rPq9K9VOC9T7Y="
