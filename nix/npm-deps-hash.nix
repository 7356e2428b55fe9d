# Written by nix/npm-deps-hash.sh: hash of the runtime npm dependencies (see nix/package.nix).
"sha256-bQp/8R+j9nElyffizXl4tN7kTnFkFOQ4QPdKJm7XLi0="
