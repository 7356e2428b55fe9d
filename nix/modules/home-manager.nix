# services.nixfleet-agent for home-manager: a user service (systemd --user on Linux,
# a launchd agent on macOS) switching the home-manager profile.
#   imports = [ nixfleet.homeManagerModules.nixfleet-agent ];
#   services.nixfleet-agent = { enable = true; host = "alice@laptop"; flake = "/home/alice/nixcfg"; };
{ self }:
{ config, lib, pkgs, ... }:
let
  cfg = config.services.nixfleet-agent;
  system = pkgs.stdenv.hostPlatform.system;
  common = import ./common.nix { inherit lib cfg; platform = "home-manager"; inherit (pkgs) writeText; };
  updatePackage = if cfg.updatePackage != null then cfg.updatePackage else self.packages.${system}.nixfleet-update;
  path = lib.makeBinPath [ pkgs.git pkgs.coreutils ] + ":${config.home.profileDirectory}/bin:/run/current-system/sw/bin:/nix/var/nix/profiles/default/bin:/usr/bin:/bin";
  gitEnv = { GIT_CONFIG_COUNT = "1"; GIT_CONFIG_KEY_0 = "safe.directory"; GIT_CONFIG_VALUE_0 = cfg.flake; };
in
{
  options.services.nixfleet-agent = import ./options.nix {
    inherit lib;
    defaultPackage = self.packages.${system}.nixfleet-agent;
    defaults = {
      profile = "${config.xdg.stateHome}/nix/profiles/home-manager";
      stateDir = "${config.xdg.stateHome}/nixfleet-agent";
      healthChecks = [ ];
    };
  };

  config = lib.mkIf cfg.enable (lib.mkMerge [
    {
      assertions = common.assertions;
      home.packages = [ cfg.package updatePackage ];
      xdg.configFile."nixfleet-agent/config.json".source = common.configFile;
    }
    (lib.mkIf (pkgs.stdenv.hostPlatform.isLinux && common.serves) {
      systemd.user.services.nixfleet-agent = {
        Unit.Description = "NixFleet host agent (${cfg.host})";
        Install.WantedBy = [ "default.target" ];
        Service = {
          ExecStart = lib.escapeShellArgs common.serveArgv;
          Restart = "always";
          RestartSec = 2;
          KillMode = "process";
          UMask = "0077";
          Environment = lib.mapAttrsToList (k: v: "${k}=${v}") (gitEnv // { PATH = path; });
        };
      };
    })
    (lib.mkIf (pkgs.stdenv.hostPlatform.isDarwin && common.serves) {
      launchd.agents.nixfleet-agent = {
        enable = true;
        config = {
          ProgramArguments = common.serveArgv;
          RunAtLoad = true;
          KeepAlive = true;
          AbandonProcessGroup = true;
          StandardOutPath = "${cfg.stateDir}/agent.log";
          StandardErrorPath = "${cfg.stateDir}/agent.log";
          EnvironmentVariables = gitEnv // { PATH = path; };
        };
      };
    })
  ]);
}
