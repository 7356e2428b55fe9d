# What the three modules share: the generated config file and the argv of the service.
{ lib, cfg, platform, writeText }:
let
  agentConfig = import ../lib/agent-config.nix;
  settings = {
    inherit platform;
    inherit (cfg) host flake profile runningSystem stateDir listen tokenFile tlsCert tlsKey healthChecks
      healthCheckTimeout switchMethod agentInput autoCommit autoPush updateBeforeRebuild
      syncDotfiles offlineMode confirmTimeout rollbackOnCheckFailure broker brokerCredentials standbyWorker standbyIdleTimeout workerLauncher;
  };
in
rec {
  json = agentConfig.toJSON settings;
  configFile = writeText "nixfleet-agent.json" json;
  serveArgv = [ "${cfg.package}/bin/nixfleet-agent" "serve" "--config" "${configFile}" ];
  assertions = [
    {
      assertion = cfg.listen == null || agentConfig.isLoopback cfg.listen || cfg.tokenFile != null;
      message = "services.nixfleet-agent: listen = \"${toString cfg.listen}\" is not loopback: set tokenFile so only controllers with a token can connect.";
    }
    {
      assertion = builtins.all (p: p == null || !lib.hasPrefix builtins.storeDir p) [ cfg.tokenFile cfg.tlsKey cfg.brokerCredentials ];
      message = "services.nixfleet-agent: tokenFile, tlsKey and brokerCredentials must not be in the Nix store (it is world-readable); use a path such as /run/secrets/… or /var/lib/nixfleet-agent/tokens.";
    }
    {
      assertion = (cfg.tlsCert == null) == (cfg.tlsKey == null);
      message = "services.nixfleet-agent: tlsCert and tlsKey go together: set both for TLS, or neither.";
    }
  ];
  # A service runs when there is something to serve: a port, or a broker to dial out to.
  serves = cfg.listen != null || cfg.broker != null;
  port = if cfg.listen == null then null else agentConfig.listenPort cfg.listen;
}
