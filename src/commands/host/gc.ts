// Delete a host's old generations: ask for the age limit, list what would go (the gc op's dry
// run on the host, by the rule the agent applies), confirm in a modal whose default button
// keeps everything, then delete exactly the confirmed list with progress. From code:
// `{ host, olderThanDays, confirm: true }` skips the questions.
import { opResultOf, parseDays, type OpInfo } from '../../../protocol';
import { CancelledByUser } from '../../editor/editor';
import { asArgs } from '../../flows/args';
import { runOpWithProgress } from '../../flows/opProgress';
import { resolveHost } from '../../flows/pickHost';
import { defineCommand } from '../types';

const TITLE = 'Delete Old Generations';

export default defineCommand({
  id: 'nixfleet.gc',
  title: 'Delete Old Generations…',
  mutating: true,
  async run(c, arg): Promise<OpInfo | undefined> {
    const args = asArgs(arg);
    const host = (await resolveHost(c, arg, { title: TITLE })).name;
    let days: number;
    if (args.olderThanDays !== undefined) days = parseDays(String(args.olderThanDays));
    else {
      const typed = await c.editor.showInputBox({
        title: `NixFleet: ${TITLE} of ${host}`,
        prompt: 'Delete generations older than how many days? The current and the last known working generation always stay.',
        placeHolder: '30d',
        validateInput: (v) => {
          try {
            parseDays(v);
            return undefined;
          } catch (err) {
            return (err as Error).message;
          }
        },
      });
      if (typed === undefined) throw new CancelledByUser();
      days = parseDays(typed);
    }
    const listed = await runOpWithProgress(c, host, 'gc', { olderThanDays: days, dryRun: true }, 'Listing old generations', { quietOnSuccess: true });
    if (listed.state !== 'succeeded') return listed;
    const plan = opResultOf('gc', listed.result);
    const doomed = plan?.generations ?? [];
    if (!doomed.length) {
      void c.editor.showInformationMessage(`Nothing to delete on ${host}: no generation is older than ${days} days, besides the current and the last known working one`);
      return listed;
    }
    const n = `${doomed.length} generation${doomed.length === 1 ? '' : 's'}`;
    if (args.confirm !== true) {
      const keep = 'Keep Them';
      const remove = `Delete ${n}`;
      const kept = (plan?.kept ?? []).map((k) => `generation ${k.generation} stays (${k.reason === 'current' ? 'current' : 'last known working'})`);
      const detail = [...doomed.map((g) => `generation ${g.generation}, ${g.createdAt.slice(0, 16).replace('T', ' ')} UTC`), ...kept].join('\n');
      // The first button is the default one (Enter): it keeps everything.
      const choice = await c.editor.showModalWarning(`Delete ${n} of ${host} older than ${days} days? This cannot be undone.`, detail, keep, remove);
      if (choice !== remove) return undefined;
    }
    return runOpWithProgress(c, host, 'gc', { olderThanDays: days, generations: doomed.map((g) => g.generation) }, 'Deleting old generations', {
      done: () => `Deleted ${n} of ${host}: ${doomed.map((g) => g.generation).join(', ')}`,
    });
  },
});
