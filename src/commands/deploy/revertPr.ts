// NixFleet: Revert PR — on GitHub (a revert PR, or the base branch moved to a revert
// commit), or with `git revert -m 1` in the workspace clone when origin is a plain git
// remote or the base branch moved on since the merge.
//
// executeCommand('nixfleet.revertPr', { pr?, commit?, mode?: 'pull-request' | 'direct' | 'local',
//   confirm: true }) resolves to { route, revertCommit, pullRequest?, ... }.
import { asArgs, isProgrammatic } from '../../flows/args';
import { pickRevertTarget, revertFlow } from '../../flows/deployUndo';
import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.revertPr',
  title: 'Revert PR',
  mutating: true,
  async run(c, arg) {
    const args = asArgs(arg);
    const mode = args.mode;
    if (mode !== undefined && mode !== 'pull-request' && mode !== 'direct' && mode !== 'local') {
      throw new Error(`mode must be "pull-request", "direct" or "local", not "${String(mode)}"`);
    }
    if (args.pr !== undefined && (typeof args.pr !== 'number' || !Number.isInteger(args.pr) || args.pr < 1)) throw new Error(`"${String(args.pr)}" is not a pull request number`);
    if (args.commit !== undefined && typeof args.commit !== 'string') throw new Error('commit must be a commit hash');
    const record = c.deploys.last();
    const interactive = !isProgrammatic(arg);
    // From the UI with nothing named: asked (the last deploy's target first), never guessed.
    if (interactive && args.pr === undefined && args.commit === undefined) {
      const t = await pickRevertTarget(c, record);
      return revertFlow(c, t.record, { pr: t.pr, commit: t.commit, mode, interactive });
    }
    // Only tie the revert to the last deploy when it deployed this PR (or nothing was named).
    const related = record && (args.pr === undefined || record.target.pr?.number === args.pr) ? record : undefined;
    return revertFlow(c, related, {
      pr: args.pr as number | undefined,
      commit: args.commit as string | undefined,
      mode,
      confirmed: args.confirm === true,
      interactive,
    });
  },
});
