# services.nixfleet-agent for nix-darwin: a launchd daemon running as root.
#   imports = [ nixfleet.darwinModules.nixfleet-agent ];
#   services.nixfleet-agent = { enable = true; host = "mac1"; flake = "/Users/me/nixcfg"; tokenFile = "/var/lib/nixfleet-agent/tokens"; };
{ self }:
{ config, lib, pkgs, ... }:
let
  cfg = config.services.nixfleet-agent;
  system = pkgs.stdenv.hostPlatform.system;
  common = import ./common.nix { inherit lib cfg; platform = "darwin"; inherit (pkgs) writeText; };
  updatePackage = if cfg.updatePackage != null then cfg.updatePackage else self.packages.${system}.nixfleet-update;
in
{
  options.services.nixfleet-agent = import ./options.nix {
    inherit lib;
    defaultPackage = self.packages.${system}.nixfleet-agent;
    defaults = {
      profile = "/nix/var/nix/profiles/system";
      stateDir = "/var/lib/nixfleet-agent";
      healthChecks = [ ];
    };
  };

  config = lib.mkIf cfg.enable (lib.mkMerge [{
    assertions = common.assertions;
    environment.systemPackages = [ cfg.package updatePackage ];
    environment.etc."nixfleet-agent/config.json".source = common.configFile;

    system.activationScripts.postActivation.text = ''
      mkdir -p -m 0700 ${lib.escapeShellArg cfg.stateDir}
    '';
  }
  # listen = null and no broker: SSH only (`ssh HOST nixfleet-agent stdio`), no server to run.
  (lib.mkIf common.serves {
    launchd.daemons.nixfleet-agent.serviceConfig = {
      Label = "org.nixfleet.agent";
      ProgramArguments = common.serveArgv;
      RunAtLoad = true;
      KeepAlive = true;
      # Detached op workers must outlive a restart of the agent (launchd's KillMode=process).
      AbandonProcessGroup = true;
      StandardOutPath = "/var/log/nixfleet-agent.log";
      StandardErrorPath = "/var/log/nixfleet-agent.log";
      EnvironmentVariables = {
        PATH = lib.makeBinPath [ config.nix.package pkgs.git pkgs.coreutils ] + ":/run/current-system/sw/bin:/usr/bin:/bin:/usr/sbin:/sbin";
        HOME = cfg.stateDir;
        GIT_CONFIG_COUNT = "1";
        GIT_CONFIG_KEY_0 = "safe.directory";
        GIT_CONFIG_VALUE_0 = cfg.flake;
      };
    };
  })]);
}
