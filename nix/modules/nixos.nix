# services.nixfleet-agent for NixOS: a root systemd service with its state in
# /var/lib/nixfleet-agent. Usage (flake.nix of your nixcfg):
#   imports = [ nixfleet.nixosModules.nixfleet-agent ];
#   services.nixfleet-agent = { enable = true; host = "web1"; flake = "/etc/nixcfg"; tokenFile = "/var/lib/nixfleet-agent/tokens"; };
{ self }:
{ config, lib, pkgs, ... }:
let
  cfg = config.services.nixfleet-agent;
  system = pkgs.stdenv.hostPlatform.system;
  common = import ./common.nix { inherit lib cfg; platform = "nixos"; inherit (pkgs) writeText; };
  updatePackage = if cfg.updatePackage != null then cfg.updatePackage else self.packages.${system}.nixfleet-update;
in
{
  options.services.nixfleet-agent = import ./options.nix {
    inherit lib;
    defaultPackage = self.packages.${system}.nixfleet-agent;
    defaults = {
      profile = "/nix/var/nix/profiles/system";
      stateDir = "/var/lib/nixfleet-agent";
      healthChecks = [ [ "systemctl" "is-system-running" ] ];
    };
  };

  config = lib.mkIf cfg.enable (lib.mkMerge [{
    assertions = common.assertions ++ [{
      assertion = cfg.stateDir == "/var/lib/nixfleet-agent";
      message = "services.nixfleet-agent.stateDir: on NixOS the state lives in /var/lib/nixfleet-agent (systemd StateDirectory).";
    }];

    environment.systemPackages = [ cfg.package updatePackage ];
    # nixfleet-update and `nixfleet-agent <command>` find the config here without --config.
    environment.etc."nixfleet-agent/config.json".source = common.configFile;
    # Also needed without a server: `nixfleet-agent stdio` over SSH keeps its state there.
    systemd.tmpfiles.rules = [ "d /var/lib/nixfleet-agent 0700 root root -" ];
  }
  # listen = null and no broker: SSH only (`ssh HOST nixfleet-agent stdio`), no server to run.
  (lib.mkIf common.serves {
    networking.firewall.allowedTCPPorts = lib.mkIf (cfg.openFirewall && common.port != null) [ common.port ];

    systemd.services.nixfleet-agent = {
      description = "NixFleet host agent (${cfg.host})";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" "nix-daemon.service" ];
      # Workers run nix, git, nixos-rebuild/switch-to-configuration and health checks.
      path = [ config.nix.package pkgs.git pkgs.coreutils pkgs.util-linux config.systemd.package config.system.build.nixos-rebuild ];
      environment = {
        HOME = "/var/lib/nixfleet-agent";
        # The checkout usually belongs to a user; git refuses a root process on it otherwise.
        GIT_CONFIG_COUNT = "1";
        GIT_CONFIG_KEY_0 = "safe.directory";
        GIT_CONFIG_VALUE_0 = cfg.flake;
      };
      # A switch restarts this unit; the op's worker is a separate detached process
      # (KillMode=process) that keeps running and is re-attached by the new agent.
      restartIfChanged = true;
      serviceConfig = {
        ExecStart = lib.escapeShellArgs common.serveArgv;
        Restart = "always";
        RestartSec = 2;
        KillMode = "process";
        StateDirectory = "nixfleet-agent";
        StateDirectoryMode = "0700";
        User = "root";
        UMask = "0077";
      };
    };
  })]);
}
