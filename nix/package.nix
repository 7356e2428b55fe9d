# The NixFleet host agent: dist/agent.js (one esbuild bundle) run by nixpkgs' Node.
#
# Dependencies: the bundle inlines its runtime npm dependencies, so the build needs
# node_modules only while bundling. They are fetched by a fixed-output derivation that
# prunes devDependencies (nix/prune-dev-deps.cjs) and runs `npm ci --omit=dev
# --omit=optional` against the npm registry configured by npm itself; its hash lives in
# nix/npm-deps-hash.nix. After changing dependencies run
#   bash nix/npm-deps-hash.sh --write
# (the packaging test fails with that hint while the hash is stale). esbuild comes from
# nixpkgs, with the exact arguments of scripts/build.mjs (nix/esbuild-agent.json).
{ lib
, stdenv
, stdenvNoCC
, nodejs
, esbuild
, git
, cacert
, makeWrapper

, version
, npmDepsHash ? import ./npm-deps-hash.nix
}:
let
  bundle = builtins.fromJSON (builtins.readFile ./esbuild-agent.json);

  npmDeps = stdenvNoCC.mkDerivation {
    pname = "nixfleet-agent-npm-deps";
    inherit version;
    src = lib.fileset.toSource {
      root = ../.;
      fileset = lib.fileset.unions [ ../package.json ../package-lock.json ./prune-dev-deps.cjs ];
    };
    nativeBuildInputs = [ nodejs cacert ];
    dontConfigure = true;
    buildPhase = ''
      runHook preBuild
      export HOME="$TMPDIR" npm_config_cache="$TMPDIR/npm-cache" npm_config_update_notifier=false
      node nix/prune-dev-deps.cjs
      npm ci --omit=dev --omit=optional --ignore-scripts --no-bin-links --no-audit --no-fund --loglevel=error
      rm -f node_modules/.package-lock.json
      runHook postBuild
    '';
    # $out/node_modules, not $out itself: esbuild follows the symlink below to the store
    # path and resolves a package's own imports by walking up to a node_modules folder.
    installPhase = ''
      mkdir -p "$out"
      cp -r node_modules "$out/node_modules"
    '';
    dontFixup = true;
    impureEnvVars = lib.fetchers.proxyImpureEnvVars ++ [ "NPM_CONFIG_REGISTRY" ];
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    outputHash = npmDepsHash;
  };
in
stdenv.mkDerivation {
  pname = "nixfleet-agent";
  inherit version;
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../package.json
      ../tsconfig.json
      ../agent
      ../protocol
      ../scripts/import-meta-url.js
    ];
  };
  nativeBuildInputs = [ esbuild makeWrapper ];

  buildPhase = ''
    runHook preBuild
    ln -s ${npmDeps}/node_modules node_modules
    esbuild ${lib.escapeShellArg bundle.entry} \
      ${lib.escapeShellArgs (map (lib.replaceStrings [ "@VERSION@" ] [ version ]) bundle.args)} \
      --outfile=dist/agent.js
    runHook postBuild
  '';

  installPhase = ''
    runHook preInstall
    install -Dm644 dist/agent.js "$out/lib/nixfleet-agent/agent.js"
    echo '{"type":"commonjs"}' > "$out/lib/nixfleet-agent/package.json"
    # git is a fallback: the host's own git (first on PATH) is preferred.
    makeWrapper ${lib.getExe nodejs} "$out/bin/nixfleet-agent" \
      --add-flags "$out/lib/nixfleet-agent/agent.js" \
      --suffix PATH : ${lib.makeBinPath [ git ]}
    runHook postInstall
  '';

  doInstallCheck = true;
  installCheckPhase = ''
    "$out/bin/nixfleet-agent" --version | grep -F -- ${lib.escapeShellArg version}
  '';

  passthru = { inherit npmDeps; };

  meta = {
    description = "NixFleet host agent: generations, switch, rollback, force rebuild and Rebuild Smart for the NixFleet VS Code extension";
    license = lib.licenses.mit;
    mainProgram = "nixfleet-agent";
    platforms = lib.platforms.linux ++ lib.platforms.darwin;
  };
}
