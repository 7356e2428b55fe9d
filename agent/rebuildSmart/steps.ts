// Every command a Rebuild Smart run executes goes through here, so that --dry-run can
// print each one instead of running it, and the journal shows each command before its
// output. Read-only inspection (git status, rev-parse, reading files) still runs in a
// dry run: it changes nothing and it is what decides which commands would run.
import { simpleGit, type SimpleGit } from 'simple-git';
import type { RunOptions, RunResult } from '../exec';
import type { OpContext } from '../ops/types';

/** How the journal shows an argv: words with spaces or quotes are JSON-quoted. */
export function showArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./~-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/** Who commits (e.g. set in the agent's service unit); harmless to pass to git. */
const IDENTITY_VARS = ['GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL'];
const NO_EDITOR_VARS = ['EDITOR', 'VISUAL', 'PAGER'];

export class Steps {
  /** Every command printed instead of run, in order (dry run only). */
  readonly planned: string[] = [];

  constructor(
    private readonly ctx: OpContext,
    readonly dryRun: boolean,
  ) {}

  /** Log one line to the journal. */
  say(text: string): void {
    this.ctx.log('info', text);
  }

  /** Record (dry run) or announce a command. Returns true when it should really run. */
  private announce(argv: readonly string[], cwd?: string): boolean {
    const where = cwd ? ` (in ${cwd})` : '';
    if (this.dryRun) {
      this.planned.push(showArgv(argv) + where);
      this.say(`[dry-run] would run: ${showArgv(argv)}${where}`);
      return false;
    }
    this.say(`$ ${showArgv(argv)}${where}`);
    return true;
  }

  /**
   * Run a command that changes something or talks to the network. In a dry run it is
   * printed and `undefined` is returned.
   */
  async change(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult | undefined> {
    if (this.dryRun) return void this.announce(argv, opts.cwd);
    // ctx.run writes the "$ argv" line itself.
    return this.ctx.run(argv, { signal: this.ctx.signal, ...opts });
  }

  /** Run a read-only command (runs in a dry run too). */
  async inspect(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.ctx.run(argv, { signal: this.ctx.signal, quietStdout: true, capture: true, ...opts });
  }

  /** A simple-git instance for the repo at `dir`, bound to the run's signal. */
  git(dir: string, timeoutMs?: number): SimpleGit {
    return this.makeGit(dir, this.ctx.signal, timeoutMs);
  }

  /**
   * A simple-git instance NOT bound to the signal: for putting things back (abort a rebase,
   * pop a stash) after a cancel, which must still run.
   */
  cleanupGit(dir: string): SimpleGit {
    return this.makeGit(dir, undefined, 60_000);
  }

  private makeGit(dir: string, signal: AbortSignal | undefined, timeoutMs?: number): SimpleGit {
    const git = simpleGit({
      baseDir: dir,
      ...(signal ? { abort: signal } : {}),
      ...(timeoutMs ? { timeout: { block: timeoutMs } } : {}),
      allowEnvironment: ['GIT_TERMINAL_PROMPT', 'GIT_OPTIONAL_LOCKS', ...IDENTITY_VARS],
    });
    // Never wait for a password prompt: the agent runs unattended. simple-git refuses
    // GIT_* variables that can redirect git; the commit identity ones are passed on.
    // Nothing here opens an editor or a pager (commits take -m, rebases are not
    // interactive), and simple-git refuses to run at all while EDITOR or PAGER is set:
    // most users' shells set EDITOR, and so does npm for its scripts.
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (v === undefined || NO_EDITOR_VARS.includes(k)) continue;
      if (!k.toUpperCase().startsWith('GIT_') || IDENTITY_VARS.includes(k)) env[k] = v;
    }
    // GIT_OPTIONAL_LOCKS=0: reading status must not rewrite the index (a dry run changes
    // nothing, and the user may be running git in the same checkout).
    return git.env({ ...env, GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0' });
  }

  /**
   * Run a git command that changes the repository (or fetches), through simple-git's raw
   * interface; its output goes to the journal. Dry run: printed, not run.
   */
  async gitChange(dir: string, args: string[], timeoutMs?: number): Promise<string | undefined> {
    if (!this.announce(['git', ...args], dir)) return undefined;
    const out = await this.git(dir, timeoutMs).raw(args);
    for (const line of out.split('\n')) if (line.trim()) this.ctx.log('stdout', line);
    return out;
  }
}
