// Every command a Rebuild Smart run executes goes through here, so that --dry-run can
// print each one instead of running it, and the journal shows each command before its
// output. Read-only inspection (git status, rev-parse, reading files) still runs in a
// dry run: it changes nothing and it is what decides which commands would run.
import type { SimpleGit } from 'simple-git';
import { formatArgv } from '../../protocol';
import type { RunOptions, RunResult } from '../exec';
import { batchSshCommand, configuredSshCommand, explainRemoteFailure, openGitWith, remoteUrl } from '../git/env';
import type { OpContext } from '../ops/types';


/** git commands that talk to a remote: they get the user's ssh command in BatchMode. */
const REMOTE_COMMANDS = new Set(['fetch', 'push', 'pull', 'ls-remote']);

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
      this.planned.push(formatArgv(argv) + where);
      this.say(`[dry-run] would run: ${formatArgv(argv)}${where}`);
      return false;
    }
    this.say(`$ ${formatArgv(argv)}${where}`);
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

  /**
   * A simple-git instance for a command that reaches a remote (fetch, push, ls-remote):
   * the user's ssh command (core.sshCommand) in BatchMode with a connect timeout, so an
   * unknown host key or a password prompt fails at once instead of hanging the run.
   */
  async remoteGit(dir: string, timeoutMs?: number): Promise<SimpleGit> {
    return this.makeGit(dir, this.ctx.signal, timeoutMs, batchSshCommand(await configuredSshCommand(dir)));
  }

  private makeGit(dir: string, signal: AbortSignal | undefined, timeoutMs?: number, sshCommand = batchSshCommand(undefined)): SimpleGit {
    // Never wait for a prompt (git/env.ts): the agent runs unattended. Commit identity
    // variables are passed on; EDITOR/PAGER are dropped (simple-git refuses to run with
    // them, and nothing here opens one: commits take -m, rebases are not interactive).
    // GIT_OPTIONAL_LOCKS=0: reading status must not rewrite the index (a dry run changes
    // nothing, and the user may be running git in the same checkout).
    return openGitWith(dir, sshCommand, { signal, timeoutMs, env: { GIT_OPTIONAL_LOCKS: '0' } });
  }

  /**
   * Run a git command that changes the repository (or fetches), through simple-git's raw
   * interface; its output goes to the journal. Dry run: printed, not run.
   */
  async gitChange(dir: string, args: string[], timeoutMs?: number): Promise<string | undefined> {
    if (!this.announce(['git', ...args], dir)) return undefined;
    const remote = REMOTE_COMMANDS.has(args[0] ?? '');
    const git = remote ? await this.remoteGit(dir, timeoutMs) : this.git(dir, timeoutMs);
    let out: string;
    try {
      out = await git.raw(args);
    } catch (err) {
      const name = remote ? args.slice(1).find((a) => !a.startsWith('-')) : undefined;
      const why = name && explainRemoteFailure(err instanceof Error ? err.message : String(err), name, await remoteUrl(dir, name));
      if (why) throw new Error(`git ${args[0]} in ${dir} failed: ${why}`, { cause: err });
      throw err;
    }
    for (const line of out.split('\n')) if (line.trim()) this.ctx.log('stdout', line);
    return out;
  }
}
