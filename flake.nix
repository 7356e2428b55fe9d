{
  description = "NixFleet: operate a fleet of NixOS, nix-darwin and home-manager hosts from VS Code (host agent, update script, modules)";

  # No flake.lock is committed: your nixcfg pins nixpkgs for it
  # (`inputs.nixfleet.inputs.nixpkgs.follows = "nixpkgs"`); `nix flake lock` makes one for
  # building here. Needs nixpkgs 23.11 or newer (lib.fileset).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAllSystems = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);
      packageJson = builtins.fromJSON (builtins.readFile ./package.json);
      # The version the agent reports: package.json's plus the commit, so a self-update
      # (and `nixfleet-update --verify`) can tell two builds of one release apart.
      version = packageJson.version + "+" + (self.shortRev or self.dirtyShortRev or "dirty");
      pkgsFor = system: nixpkgs.legacyPackages.${system};
      agentFor = system: (pkgsFor system).callPackage ./nix/package.nix { inherit version; };
      updateFor = system: (pkgsFor system).callPackage ./nix/update.nix { };
    in
    {
      packages = forAllSystems (system: {
        nixfleet-agent = agentFor system;
        nixfleet-update = updateFor system;
        default = agentFor system;
      });

      apps = forAllSystems (system: {
        nixfleet-agent = { type = "app"; program = "${agentFor system}/bin/nixfleet-agent"; };
        nixfleet-update = { type = "app"; program = "${updateFor system}/bin/nixfleet-update"; };
        default = self.apps.${system}.nixfleet-agent;
      });

      overlays.default = final: _prev: {
        nixfleet-agent = final.callPackage ./nix/package.nix { inherit version; };
        nixfleet-update = final.callPackage ./nix/update.nix { };
      };

      nixosModules = {
        nixfleet-agent = import ./nix/modules/nixos.nix { inherit self; };
        default = self.nixosModules.nixfleet-agent;
      };
      darwinModules = {
        nixfleet-agent = import ./nix/modules/darwin.nix { inherit self; };
        default = self.darwinModules.nixfleet-agent;
      };
      homeManagerModules = {
        nixfleet-agent = import ./nix/modules/home-manager.nix { inherit self; };
        default = self.homeManagerModules.nixfleet-agent;
      };

      # The agent's JSON config from module-style options, without nixpkgs
      # (nix/lib/agent-config.nix); useful for hosts configured by other means.
      lib = import ./nix/lib/agent-config.nix;
    };
}
