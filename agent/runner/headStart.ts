// An op's first command, started by its worker before the worker's own set-up (journal,
// lock, validation, the op's first look at the host): a switch's build then runs while the
// rest is made ready, ~3 ms sooner on a standby. Only a command that changes nothing on
// the host is started so (OpDefinition.firstCommand: a build). What it prints is kept until
// the op runs that same command, when ctx.run takes the process over (its `$` line and
// everything after it go to the journal in order, as if it started then). An op that never
// runs it (refused, cancelled, a validation that failed) stops it before it ends.
import type { OutputStream, BuildProgress } from '../../protocol';
import { runCommand, type LineSink, type RunOptions, type RunResult } from '../exec';
import type { Command } from '../ops/types';

/** Options that change what a command does or returns; a fresh decoder (decodeStderr) is the same decoding. */
const SAME_KEYS = ['cwd', 'env', 'timeoutMs', 'capture', 'quietStdout', 'allowFailure', 'input', 'onLine'] as const;

export class HeadStart {
  private readonly stop = new AbortController();
  private readonly held: [OutputStream, string, BuildProgress | undefined][] = [];
  private sink: LineSink = (stream, text, progress) => this.held.push([stream, text, progress]);
  private readonly done: Promise<RunResult>;
  private taken = false;

  /** Start `cmd` now; `signal` (the op's cancel) stops it, as it would stop the op's own run. */
  constructor(
    private readonly cmd: Command,
    signal: AbortSignal,
  ) {
    this.done = runCommand(cmd.argv, (s, t, p) => this.sink(s, t, p), { ...cmd.opts, signal: AbortSignal.any([signal, this.stop.signal]) });
    this.done.catch(() => {}); // its outcome is the taker's, or nobody's (stopped)
  }

  /** Stop it also when `signal` aborts: the op's cancel, for a command its standby started before the op was handed to it. */
  follow(signal: AbortSignal): void {
    if (signal.aborted) this.stop.abort();
    else signal.addEventListener('abort', () => this.stop.abort(), { once: true });
  }

  /** Is this the command ctx.run is asked to run: the same argv, run the same way? */
  matches(argv: readonly string[], opts: RunOptions): boolean {
    const mine = this.cmd.opts;
    return (
      !this.taken &&
      argv.length === this.cmd.argv.length &&
      argv.every((a, i) => a === this.cmd.argv[i]) &&
      SAME_KEYS.every((k) => opts[k] === mine[k]) &&
      (opts.decodeStderr === undefined) === (mine.decodeStderr === undefined)
    );
  }

  /**
   * Take the process over: what it printed so far goes to `sink` now, the rest as it comes;
   * `signal` stops it from now on too. Resolves as runCommand would have.
   */
  take(sink: LineSink, signal?: AbortSignal): Promise<RunResult> {
    this.taken = true;
    for (const [stream, text, progress] of this.held.splice(0)) sink(stream, text, progress);
    this.sink = sink;
    if (signal?.aborted) this.stop.abort();
    else signal?.addEventListener('abort', () => this.stop.abort(), { once: true });
    return this.done;
  }

  /** The op did not run it: stop it and wait until it is gone. Nothing when it was taken. */
  async discard(): Promise<void> {
    if (this.taken) return;
    this.taken = true;
    this.stop.abort();
    await this.done.catch(() => {});
  }
}

/** A command started ahead that the op will not run: stopped, and gone once this resolves. */
export async function dropHeadStart(started: HeadStart | undefined): Promise<undefined> {
  await started?.discard();
  return undefined;
}
