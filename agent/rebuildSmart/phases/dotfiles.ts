// Phase 3: capture dotfile edits made on the host into chezmoi's source (`chezmoi re-add`),
// commit them in the source repo, and sync it with its remote (pull --rebase, apply, push).
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { readWorkTree } from '../gitState';
import type { PhaseOutcome, RunState } from '../types';
import { which } from '../which';
import { FETCH_TIMEOUT_MS } from './upstream';

export function dotfilesSkip(run: RunState): string | undefined {
  if (run.flags.skipDotfiles) return '--skip-dotfiles';
  if (!run.flags.syncDotfiles) return 'syncDotfiles is off in the agent config';
  if (!which('chezmoi')) return 'chezmoi not installed';
  return undefined;
}

/** chezmoi's default source directory; a custom one is asked from chezmoi itself (not in a dry run). */
async function sourceDir(run: RunState, chezmoi: string): Promise<string | undefined> {
  const dataHome = process.env.XDG_DATA_HOME || path.join(homedir(), '.local/share');
  const byDefault = path.join(dataHome, 'chezmoi');
  if (existsSync(byDefault)) return byDefault;
  if (run.steps.dryRun) return undefined;
  const r = await run.steps.inspect([chezmoi, 'source-path'], { allowFailure: true });
  const dir = r.stdout.trim();
  return r.exitCode === 0 && dir && existsSync(dir) ? dir : undefined;
}

export async function dotfiles(run: RunState): Promise<PhaseOutcome> {
  const { steps, config } = run;
  const chezmoi = which('chezmoi')!;
  const src = await sourceDir(run, chezmoi);
  if (!src) return { status: 'skipped', detail: 'chezmoi not set up: no source directory, run chezmoi init' };

  await steps.change([chezmoi, 're-add'], { timeoutMs: 120_000 });
  if (!existsSync(path.join(src, '.git'))) {
    return { detail: `re-added into ${src} (not a git repository: nothing to sync)` };
  }
  const done: string[] = ['re-added'];
  const tree = await readWorkTree(steps.git(src));
  if (tree.dirty.length || tree.untracked.length) {
    await steps.gitChange(src, ['add', '--all']);
    await steps.gitChange(src, ['commit', '--message', `chezmoi: re-add dotfile changes from ${config.host} (rebuild-smart)`]);
    done.push(`committed ${tree.dirty.length + tree.untracked.length} file(s)`);
  }
  const remote = tree.tracking ? tree.tracking.slice(0, tree.tracking.indexOf('/')) : undefined;
  if (!remote) return { detail: `${done.join(', ')}; the chezmoi source has no upstream branch to sync with` };
  if (run.offline) return { status: 'warning', detail: `${done.join(', ')}; pull and push skipped (offline)` };
  try {
    await steps.gitChange(src, ['pull', '--rebase', '--autostash'], FETCH_TIMEOUT_MS);
  } catch (err) {
    // Leave the source repo as it was before the pull; the re-add commit stays local.
    if (!run.ctx.signal.aborted) await steps.cleanupGit(src).raw(['rebase', '--abort']).catch(() => undefined);
    throw err;
  }
  done.push('pulled');
  await steps.change([chezmoi, 'apply', '--no-tty', '--force'], { timeoutMs: 120_000 });
  done.push('applied');
  if (run.flags.autoPush) {
    await steps.gitChange(src, ['push'], FETCH_TIMEOUT_MS);
    done.push('pushed');
  }
  return { detail: done.join(', ') };
}
