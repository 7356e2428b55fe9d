// Every external command the agent runs goes through here: an argv array (never a
// shell string), output split into lines as it arrives, cancellation by AbortSignal.
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { formatArgv, MAX_LINE_CHARS, type BuildProgress, type OutputStream } from '../protocol';

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Kill the command after this many milliseconds (it then counts as failed). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Collect stdout into the result as well as streaming it (for commands whose output is parsed). */
  capture?: boolean;
  /** Do not stream stdout lines (the captured output is parsed instead, e.g. JSON). */
  quietStdout?: boolean;
  /** Resolve with the exit code instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  input?: string;
  /** Also called with every line as it goes to the journal (e.g. to parse what a command prints on stderr). */
  onLine?: LineSink;
  /**
   * Turn each raw stderr line into journal lines: Nix's `--log-format internal-json` lines
   * become readable text plus progress. Emitting nothing drops the line.
   */
  decodeStderr?: (line: string, emit: LineSink) => void;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  /** The last stderr lines, for error messages. */
  stderrTail: string[];
}

export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | undefined,
    readonly stderrTail: readonly string[],
    reason: string,
    /** Set when the command was stopped rather than failing on its own: callers dispatch on it. */
    readonly stopped?: 'cancelled' | 'timed-out',
  ) {
    super(`${formatArgv(argv)} ${reason}${stderrTail.length ? ': ' + stderrTail[stderrTail.length - 1] : ''}`);
  }
}

/** How long a cancelled or timed-out command gets to exit on SIGTERM before SIGKILL. */
export const KILL_GRACE_MS = 5_000;

/** `progress` rides on a build's progress lines (protocol/plan.ts); sinks that do not keep it may ignore it. */
export type LineSink = (stream: OutputStream, text: string, progress?: BuildProgress) => void;

/** Split chunks into lines, emitting over-long lines in pieces rather than dropping them. */
export class LineSplitter {
  private partial = '';
  constructor(private readonly emit: (line: string) => void) {}
  push(chunk: string): void {
    const text = this.partial + chunk;
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.emitLong(line.endsWith('\r') ? line.slice(0, -1) : line);
    while (this.partial.length > MAX_LINE_CHARS) {
      this.emit(this.partial.slice(0, MAX_LINE_CHARS));
      this.partial = this.partial.slice(MAX_LINE_CHARS);
    }
  }
  end(): void {
    if (this.partial.length) this.emitLong(this.partial);
    this.partial = '';
  }
  private emitLong(line: string): void {
    for (let i = 0; i < line.length || i === 0; i += MAX_LINE_CHARS) this.emit(line.slice(i, i + MAX_LINE_CHARS));
  }
}

/** Run argv[0] with argv[1..], streaming each output line to `sink`. */
export async function runCommand(argv: readonly string[], sink: LineSink, opts: RunOptions = {}): Promise<RunResult> {
  if (argv.length === 0 || argv.some((a) => typeof a !== 'string' || a.includes('\0'))) {
    throw new Error('internal: a command must be a non-empty argv list without NUL bytes');
  }
  const stderrTail: string[] = [];
  const captured: string[] = [];
  const emit: LineSink = (stream, text, progress) => {
    if (stream === 'stderr') {
      stderrTail.push(text);
      if (stderrTail.length > 20) stderrTail.shift();
    }
    sink(stream, text, progress);
    opts.onLine?.(stream, text, progress);
  };
  const out = new LineSplitter((line) => {
    if (opts.capture) captured.push(line);
    if (!opts.quietStdout) sink('stdout', line);
    opts.onLine?.('stdout', line);
  });
  const err = new LineSplitter((line) => (opts.decodeStderr ? opts.decodeStderr(line, emit) : emit('stderr', line)));
  // Each command gets its own process group so that cancelling or timing out reaches
  // everything it started: a grandchild holding the output pipes would otherwise keep
  // this call waiting long after the command itself was killed.
  const child = execa(argv[0]!, argv.slice(1), {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: true,
    reject: false,
    stripFinalNewline: false,
    buffer: false,
    detached: true,
    input: opts.input,
    stdin: opts.input === undefined ? 'ignore' : undefined,
  });
  let stopped: 'cancelled' | 'timed-out' | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const signalGroup = (sig: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      // The group is already gone.
    }
  };
  const stop = (why: 'cancelled' | 'timed-out') => {
    if (stopped) return;
    stopped = why;
    signalGroup('SIGTERM');
    killTimer = setTimeout(() => signalGroup('SIGKILL'), KILL_GRACE_MS);
  };
  const onAbort = () => stop('cancelled');
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  const timeoutTimer = opts.timeoutMs === undefined ? undefined : setTimeout(() => stop('timed-out'), opts.timeoutMs);
  // Once a stopped command has exited, nothing it left behind may keep the pipes open.
  child.once('exit', () => {
    if (stopped) signalGroup('SIGKILL');
  });
  child.stdout?.setEncoding('utf8').on('data', (c: string) => out.push(c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => err.push(c));
  let result;
  try {
    result = await child;
  } finally {
    clearTimeout(killTimer);
    clearTimeout(timeoutTimer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
  out.end();
  err.end();
  const stdout = captured.join('\n');
  if (stopped === 'cancelled') throw new CommandError(argv, result.exitCode, stderrTail, 'was cancelled', stopped);
  if (stopped === 'timed-out') throw new CommandError(argv, result.exitCode, stderrTail, `timed out after ${opts.timeoutMs} ms`, stopped);
  if (result.failed && result.exitCode === undefined) {
    const reason =
      (result as { code?: string }).code === 'ENOENT'
        ? 'could not be started: command not found (is it installed and on PATH?)'
        : `failed to run: ${result.shortMessage ?? result.message}`;
    if (opts.allowFailure) return { exitCode: -1, stdout, stderrTail };
    throw new CommandError(argv, undefined, stderrTail, reason);
  }
  const exitCode = result.exitCode ?? -1;
  if (exitCode !== 0 && !opts.allowFailure) {
    throw new CommandError(argv, exitCode, stderrTail, `exited with code ${exitCode}`);
  }
  return { exitCode, stdout, stderrTail };
}

/**
 * The program a command `name` run now would start: the first executable `name` on PATH,
 * as the file it resolves to, with an identity that changes when that file is replaced (a
 * new store path, an upgrade in place). For answers a process asks a program once and
 * reuses while the program is the same (nix/info.ts, git/configKey.ts). Undefined when
 * there is none.
 */
export function programOnPath(name: string, env: NodeJS.ProcessEnv = process.env): { file: string; identity: string } | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      // Most directories do not have it: asked without an exception for each (~25 µs apiece).
      const st = statSync(path.join(dir, name), { throwIfNoEntry: false });
      if (st?.isFile() && (st.mode & 0o111) !== 0) {
        const file = realpathSync(path.join(dir, name));
        return { file, identity: `${file} ${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` };
      }
    } catch {
      /* not readable in this directory */
    }
  }
  return undefined;
}
