# Rebuild Smart for host owners: run these on the host whose nixcfg checkout the agent
# config names. Each recipe calls the agent CLI; extra arguments go to it unchanged.
#
#   just rebuild-smart [FLAGS]     pull, dotfiles, secrets, rebuild, checks, commit & push
#   just rebuild-smart-update      the same, and update every flake input first
#   just rebuild-smart-offline     no network phases (no fetch, update, push)
#   just rebuild-smart-dry         print every command it would run, run none
#   just rebuild-smart-rollback    back to the commit and generation before the last run
#
# $NIXFLEET_AGENT_CONFIG: the agent's config file (default /etc/nixfleet-agent/config.json).
# $NIXFLEET_AGENT: the agent program (default: nixfleet-agent on PATH).
# See docs/rebuild-smart.md for the phases and flags.

# Arguments reach the agent as "$@", one argv word each: never re-split by a shell.
set positional-arguments := true

export NIXFLEET_AGENT_CONFIG := env_var_or_default("NIXFLEET_AGENT_CONFIG", "/etc/nixfleet-agent/config.json")
agent := env_var_or_default("NIXFLEET_AGENT", "nixfleet-agent")

# List the recipes
default:
    @{{quote(just_executable())}} --list --justfile {{quote(justfile())}}

# Pull nixcfg, sync dotfiles, update secrets, rebuild, check, commit and push (FLAGS: --skip-upstream --skip-dotfiles --skip-update --update --dry-run --offline --rollback-on-failure)
rebuild-smart *FLAGS:
    {{quote(agent)}} rebuild-smart --config "$NIXFLEET_AGENT_CONFIG" "$@"

# Rebuild Smart with every flake input updated first (flake.lock committed on its own)
rebuild-smart-update *FLAGS:
    {{quote(agent)}} rebuild-smart --config "$NIXFLEET_AGENT_CONFIG" --update "$@"

# Rebuild Smart without the network: no fetch, no input updates, no push
rebuild-smart-offline *FLAGS:
    {{quote(agent)}} rebuild-smart --config "$NIXFLEET_AGENT_CONFIG" --offline "$@"

# Print every command Rebuild Smart would run; run none
rebuild-smart-dry *FLAGS:
    {{quote(agent)}} rebuild-smart --config "$NIXFLEET_AGENT_CONFIG" --dry-run "$@"

# Restore the nixcfg commit and the generation recorded before the last Rebuild Smart run
rebuild-smart-rollback *FLAGS:
    {{quote(agent)}} rebuild-smart --config "$NIXFLEET_AGENT_CONFIG" --rollback "$@"
