# Options shared by the NixOS, nix-darwin and home-manager modules: one option per key
# of the agent's config (agent/config.ts), same names, so docs/agent.md describes both.
# Unset (null) options are left out of the generated JSON and the agent's defaults apply.
{ lib, defaultPackage, defaults }:
let
  inherit (lib) mkOption mkEnableOption types;
  absPath = types.addCheck types.str (p: builtins.substring 0 1 p == "/") // {
    description = "absolute path";
  };
  nullOr = types.nullOr;
in
{
  enable = mkEnableOption "the NixFleet host agent (serves this host's generations, switch, rollback and Rebuild Smart to the NixFleet VS Code extension)";

  package = mkOption {
    type = types.package;
    default = defaultPackage;
    defaultText = lib.literalExpression "nixfleet.packages.\${system}.nixfleet-agent";
    description = "The nixfleet-agent package to run.";
  };

  updatePackage = mkOption {
    type = nullOr types.package;
    default = null;
    description = "The nixfleet-update package installed next to the agent (null: the flake's own).";
  };

  host = mkOption {
    type = types.strMatching "[A-Za-z0-9_][A-Za-z0-9_-]{0,62}(@[A-Za-z0-9_][A-Za-z0-9_-]{0,62})?";
    example = "web1";
    description = "This host's attribute name in the nixcfg flake (nixosConfigurations.<host>, darwinConfigurations.<host>, homeConfigurations.\"user@host\").";
  };

  flake = mkOption {
    type = absPath;
    example = "/etc/nixcfg";
    description = "Path of this host's nixcfg checkout (a git clone of your fleet's flake repository). Not copied to the store.";
  };

  profile = mkOption {
    type = nullOr absPath;
    default = defaults.profile;
    description = "The Nix profile the agent switches and rolls back.";
  };

  runningSystem = mkOption {
    type = nullOr absPath;
    default = null;
    example = "/run/current-system";
    description = "The link activation points at the running system, to tell when the profile moved without activation (agent default: /run/current-system; home-manager: its gcroots/current-home).";
  };

  stateDir = mkOption {
    type = absPath;
    default = defaults.stateDir;
    description = "Journals, audit log, host lock and recorded health-check results.";
  };

  listen = mkOption {
    type = nullOr types.str;
    default = "127.0.0.1:7531";
    example = "0.0.0.0:7531";
    description = "ADDRESS:PORT of the agent's WebSocket server; null for SSH-only use (`nixfleet-agent stdio`). Anything but loopback needs tokenFile.";
  };

  openFirewall = mkOption {
    type = types.bool;
    default = false;
    description = "Open the listen port in the firewall (NixOS only).";
  };

  tokenFile = mkOption {
    type = nullOr absPath;
    default = null;
    example = "/run/secrets/nixfleet-agent-tokens";
    description = ''
      File holding the bearer token(s) controllers must present, mode 0600, owned by the
      user the agent runs as. Give a path OUTSIDE the Nix store (sops-nix, agenix, or a file
      you create once): the store is world-readable.
    '';
  };

  allowedOrigins = mkOption {
    type = nullOr (types.listOf (types.strMatching "[a-z][a-z0-9+.-]*://([[][0-9a-f:.]+[]]|[a-z0-9.-]+)(:[0-9]{1,5})?"));
    default = null;
    example = [ "https://fleet.example.com" ];
    description = ''
      Browser origins (exactly as a browser sends them in the Origin header) allowed to open
      a WebSocket to the agent. Any other request carrying an Origin is refused with 403, on
      every listener: a web page open in a browser on the host must not reach a loopback
      listener. The extension and the CLI send no Origin and need nothing here.
    '';
  };

  tlsCert = mkOption { type = nullOr absPath; default = null; description = "TLS certificate (PEM) for wss://; set together with tlsKey."; };
  tlsKey = mkOption { type = nullOr absPath; default = null; description = "TLS private key (PEM), outside the Nix store."; };

  healthChecks = mkOption {
    type = types.listOf (types.nonEmptyListOf types.str);
    default = defaults.healthChecks;
    example = [ [ "systemctl" "is-system-running" ] [ "curl" "-fsS" "http://127.0.0.1:8080/health" ] ];
    description = "Commands (argv lists, no shell) run after every switch and by Run Tests; all must exit 0.";
  };

  healthCheckTimeout = mkOption { type = nullOr types.ints.positive; default = null; description = "Seconds each health check may take (agent default 60)."; };

  switchMethod = mkOption {
    type = nullOr (types.enum [ "direct" "nixos-rebuild" "darwin-rebuild" "home-manager" "nh" ]);
    default = null;
    description = "How a switch is done: direct (nix build + nix-env --set + activate, the default) or the platform's rebuild tool.";
  };

  agentInput = mkOption {
    type = nullOr (types.strMatching "[A-Za-z_][A-Za-z0-9_-]{0,62}");
    default = null;
    description = "Name of the nixcfg flake input that pins NixFleet (self-update updates it; agent default \"nixfleet\").";
  };

  autoCommit = mkOption { type = nullOr types.bool; default = null; description = "Rebuild Smart: commit the workspace before building."; };
  autoPush = mkOption { type = nullOr types.bool; default = null; description = "Rebuild Smart: push after a successful switch."; };
  updateBeforeRebuild = mkOption { type = nullOr types.bool; default = null; description = "Rebuild Smart: update flake inputs first."; };
  syncDotfiles = mkOption { type = nullOr types.bool; default = null; description = "Rebuild Smart: apply chezmoi dotfiles."; };
  offlineMode = mkOption { type = nullOr types.bool; default = null; description = "Rebuild Smart: never touch the network."; };
  confirmTimeout = mkOption { type = nullOr (types.ints.between 0 3600); default = null; description = "Magic rollback: seconds to wait for the controller's confirmation after a switch (0 disables; agent default 30)."; };
  rollbackOnCheckFailure = mkOption { type = nullOr types.bool; default = null; description = "Roll back automatically when the health checks fail after a switch."; };
  broker = mkOption {
    type = nullOr (types.either types.str (types.listOf types.str));
    default = null;
    example = [ "tls://nats1.example.org:4222" "tls://nats2.example.org:4222" ];
    description = ''
      NATS JetStream broker the agent dials out to (nats:// or tls:// URL, or the list of a
      cluster's servers); see docs/broker.md. With a broker the agent needs no listening
      port: set listen = null for hosts behind NAT.
    '';
  };

  brokerCredentials = mkOption {
    type = nullOr absPath;
    default = null;
    example = "/run/secrets/nixfleet-broker.nk";
    description = ''
      The host's NATS credentials: an nkey seed file or a .creds file, as written by
      `nixfleet-agent broker-config`. Mode 0600, owned by the user the agent runs as, outside
      the Nix store; the agent refuses anything else.
    '';
  };

  standbyWorker = mkOption {
    type = nullOr (types.either types.bool (types.enum [ "auto" "always" "never" ]));
    default = null;
    description = "Keep one op worker started and loaded ahead of the next op, so an op starts in milliseconds rather than after the ~150 ms node takes to load the agent; it costs one idle node process's memory while it waits. auto (agent default): only while an authenticated controller runs ops on the host, until standbyIdleTimeout after its last op start; always; never. true and false mean always and never.";
  };

  standbyIdleTimeout = mkOption {
    type = nullOr types.ints.positive;
    default = null;
    description = "Seconds without an authenticated controller's op start after which an auto standby worker is retired (agent default 600).";
  };

  workerLauncher = mkOption {
    type = nullOr (types.enum [ "auto" "systemd-run" "direct" ]);
    default = null;
    description = "How op workers are started: auto (agent default: a systemd-run transient unit when systemd runs and the agent is root, else a detached process), systemd-run, or direct.";
  };
}
