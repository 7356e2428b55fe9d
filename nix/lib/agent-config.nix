# The agent's JSON config as the NixOS, nix-darwin and home-manager modules write it.
# Pure Nix (builtins only), so it evaluates and is tested without nixpkgs
# (test/integration/packaging-nix.test.ts feeds its output to `nixfleet-agent`'s own
# validation). The key list must stay exactly the keys of agent/config.ts: the test
# compares the two.
let
  # agent/config.ts `configSchema` keys, in its order.
  keys = [
    "host" "flake" "platform" "profile" "runningSystem" "stateDir" "listen" "tokenFile" "allowedOrigins" "tlsCert" "tlsKey"
    "healthChecks" "healthCheckTimeout" "switchMethod" "agentInput" "autoCommit" "autoPush"
    "updateBeforeRebuild" "syncDotfiles" "offlineMode" "confirmTimeout" "rollbackOnCheckFailure"
    "broker" "brokerCredentials" "standbyWorker" "standbyIdleTimeout" "workerLauncher"
  ];

  # "127.0.0.1:7531" / "[::1]:7531" / "host.example:7531" → 7531, or a clear error.
  listenPort = listen:
    let m = builtins.match "([[][0-9a-fA-F:.]+[]]|[A-Za-z0-9.-]+):0*([0-9]{1,5})" listen;
    in
    if m == null then
      throw "services.nixfleet-agent.listen must be ADDRESS:PORT, e.g. 127.0.0.1:7531 or [::1]:7531, not \"${listen}\""
    else
      let port = builtins.fromJSON (builtins.elemAt m 1);
      in if port > 65535 then throw "services.nixfleet-agent.listen: port ${toString port} is above 65535" else port;

  listenAddress = listen: builtins.head (builtins.match "(.*):[0-9]+" listen);

  isLoopback = listen:
    builtins.elem (listenAddress listen) [ "127.0.0.1" "localhost" "[::1]" ]
    || builtins.match "127\\.[0-9]+\\.[0-9]+\\.[0-9]+" (listenAddress listen) != null;

  # Options (an attrset that may hold more than the agent's keys, with nulls for unset
  # ones) → the config attrset: only agent keys, nulls dropped, so the agent applies its
  # own defaults for whatever the user did not set.
  mkConfig = options:
    let
      unknown = builtins.filter (k: !(builtins.elem k keys)) (builtins.attrNames options);
      picked = builtins.listToAttrs (builtins.concatMap
        (k: if options ? ${k} && options.${k} != null then [{ name = k; value = options.${k}; }] else [ ])
        keys);
      missing = builtins.filter (k: !(picked ? ${k})) [ "host" "flake" "platform" "stateDir" ];
    in
    if unknown != [ ] then
      throw "nixfleet-agent config: unknown key(s) ${builtins.concatStringsSep ", " unknown}; allowed: ${builtins.concatStringsSep ", " keys}"
    else if missing != [ ] then
      throw "nixfleet-agent config: ${builtins.concatStringsSep ", " missing} must be set (services.nixfleet-agent.${builtins.head missing})"
    else picked;

  toJSON = options: builtins.toJSON (mkConfig options);
in
{
  inherit keys mkConfig toJSON listenPort listenAddress isLoopback;
}
