// NixFleet: Plan Deploy — what a deploy of a commit (the workspace's HEAD by default, or a
// merged PR) would change on each chosen host, built without activating, in the plan view
// (a commit only in the workspace clone is pushed first, when the user says Push):
// hosts grouped by change set, ticks to leave hosts out, and Deploy, which runs the rollout
// (waves from the settings) on this plan without building it again.
//
// executeCommand('nixfleet.planDeploy', { commit?, pr?, hosts? }) opens the view too and
// resolves to the plan's view model (groups, rows, counts) once every host is planned.
// It counts as mutating: planning evaluates and builds the configuration on every host.
import { planViewModel } from '../../deploy/planSelection';
import { chooseDeploy } from '../../flows/deployTarget';
import { showPlan } from '../../views/planView';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.planDeploy',
  title: 'Plan Deploy',
  mutating: true,
  async run(c, arg) {
    const { target, hosts } = await chooseDeploy(c, arg);
    const plan = await showPlan(c, { commit: target.commit, hosts });
    return planViewModel(plan);
  },
});
