# nixfleet-update: the agent's update path that does not need the agent (nix/nixfleet-update.sh).
# Nix itself and the platform's rebuild command come from the host's PATH, so the
# host's own Nix version is detected and used.
{ writeShellApplication, git, jq, coreutils }:
writeShellApplication {
  name = "nixfleet-update";
  runtimeInputs = [ git jq coreutils ];
  text = builtins.readFile ./nixfleet-update.sh;
}
