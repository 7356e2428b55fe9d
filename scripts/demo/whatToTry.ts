// What `npm start` prints once the editor is up: where everything is (so every command's
// effect can be checked on disk) and which command to try with what.
import path from 'node:path';
import type { DemoFleet } from './fleet';

export function whereThingsAre(fleet: DemoFleet): string {
  const rows = fleet.hosts.map((h) =>
    [
      `  ${h.name} (${h.platform}), agent ${h.service.version} on ${h.address}`,
      `      profile   ${h.profile}   (ls -l ${path.dirname(h.profile)}: one ${path.basename(h.profile)}-N-link per generation)`,
      `      checkout  ${h.checkout}   (git -C ${h.checkout} log --oneline -3)`,
      `      journal   ${h.stateDir}/ops/<op>/journal.jsonl, agent log ${h.log}`,
    ].join('\n'),
  );
  return [
    `Workspace (the fleet's nixcfg flake, origin ${fleet.bed.origin}): ${fleet.workspace}`,
    `NixFleet repository (the nixcfg's input "nixfleet"): ${fleet.agentRepo.dir} — offers agent ${fleet.agentVersions.offered}, the hosts run ${fleet.agentVersions.installed}`,
    'Hosts:',
    ...rows,
  ].join('\n');
}

export function whatToTry(fleet: DemoFleet): string {
  const [h1, h2, h3] = fleet.hosts;
  if (!h1 || !h2 || !h3) throw new Error('the demo fleet has 3 hosts');
  const cli = `${h1.profile}/sw/nixfleet-agent-${h1.service.version}/bin/nixfleet-agent`;
  return `What to try (click NixFleet in the activity bar; F1 → "NixFleet: …" for the palette):
  - The Fleet view: every host with its Agent/Git/Lock/System/Tests rows and its Generations.
  - Switch / Pull: edit hosts/${h1.name}/version in the workspace, commit, git push origin main; Pull moves
    ${h1.name}'s checkout, Switch builds it into a new generation (its log streams into "NixFleet: ${h1.name}").
  - Rollback (asks which generation) or right-click a generation → Rollback to This Generation;
    the profile link moves: ls -l ${path.dirname(h2.profile)}
  - Force Rebuild and Force Rebuild from Source on ${h2.name}: rebuild even when nothing changed.
  - Run Tests: the host's health checks, recorded on its current generation (the Tests row).
  - Update Agent on ${h1.name}: updates the flake input "nixfleet" to agent ${fleet.agentVersions.offered}, commits
    flake.lock in ${h1.name}'s checkout, rebuilds; its agent restarts and reports the new version.
  - Rebuild Smart on ${h3.name}: edit ${h3.checkout}/hosts/${h3.name}/version (the host's own checkout);
    it shows its plan (a dry run) and asks, then pulls, rebuilds, commits and pushes, its phases in the notification.
  - Deploy: pick a commit and hosts; touch ${h2.dir}/fail first to make ${h2.name}'s activation fail,
    then use Rollback Deployed Hosts and Revert PR from the failure message or the view's "…" menu
    (origin is a plain git remote here, so Revert PR reverts with git in the workspace and pushes;
    npm start -- --check also reverts through a local GitHub test server). rm ${h2.dir}/fail after.
  - Cancel: touch ${h1.dir}/slow (its health checks then take a minute), Run Tests on ${h1.name},
    then Cancel Operation on the running op; the journal records it cancelled. rm ${h1.dir}/slow after.
  - Plan Deploy: what a commit would change on each host (built, not activated), grouped by change; a host
    already on it is "no change"; untick hosts and deploy the rest from the plan.
  - Delete Old Generations… on a host: lists what goes (nothing younger than the days you give; never the
    current or last known working generation) and asks; its links go from ${path.dirname(h2.profile)}.
  - Get Started (F1): the walkthrough, step by step; the steps already done are checked.
  - Set Agent Token on ${h2.name} with a wrong token: ${h2.name} goes offline, its Agent row says the agent refused the token
    and runs Set Agent Token when clicked; the right token (cat ${h2.dir}/agent-token) brings it back online.
  - Show Logs (also on every op's end message): a host's output channel, its earlier ops first, each line with
    the time its journal gives; a failed op opens it by itself (setting nixfleet.showLogsOnFailure).
  - The agent CLI a host runs: ${cli} generations --config ${h1.config}`;
}
