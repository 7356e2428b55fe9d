// Nix's machine-readable log (`--log-format internal-json`, Nix 2.8 and newer): every
// stderr line is `@nix {json}`. This turns it back into the readable lines the journal
// showed before (build log lines, messages, "building '…'") and keeps the counts Nix's own
// progress bar shows: derivations built / to build, paths and bytes fetched.
// Activity and result type numbers: libutil/logging.hh (stable since Nix 2.3).
import { describeBuildProgress, type BuildProgress } from '../../protocol';
import type { LineSink } from '../exec';

const ACT_FILE_TRANSFER = 101;
const ACT_COPY_PATHS = 103;
const ACT_BUILDS = 104;
const RES_BUILD_LOG_LINE = 101;
const RES_PROGRESS = 105;
const RES_POST_BUILD_LOG_LINE = 107;
/** Nix's default verbosity (lvlInfo): start texts and messages above it are not shown by default either. */
const SHOWN_LEVEL = 3;
/** Byte progress changes on every chunk: at most one progress line per this many ms for bytes alone. */
const BYTES_INTERVAL_MS = 1000;

const PREFIX = '@nix ';
const ansi = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

interface Activity {
  type: number;
  fields: number[];
}

export const NIX_JSON_LOG = ['--log-format', 'internal-json'];

/** One decoder per command: `decode` is RunOptions.decodeStderr. */
export class NixLogDecoder {
  private readonly activities = new Map<number, Activity>();
  private lastKey = '';
  private lastBytesAt = 0;
  private readonly now: () => number;

  constructor(opts: { now?: () => number } = {}) {
    this.now = opts.now ?? Date.now;
  }

  /** The counts so far (sums over every activity of a kind, as the progress bar does). */
  progress(): BuildProgress {
    const p: BuildProgress = { built: 0, toBuild: 0, running: 0, failed: 0, copied: 0, toCopy: 0, fetchedBytes: 0, toFetchBytes: 0 };
    for (const a of this.activities.values()) {
      const [done = 0, expected = 0, running = 0, failed = 0] = a.fields;
      if (a.type === ACT_BUILDS) {
        p.built += done;
        p.toBuild += expected;
        p.running += running;
        p.failed += failed;
      } else if (a.type === ACT_COPY_PATHS) {
        p.copied += done;
        p.toCopy += expected;
      } else if (a.type === ACT_FILE_TRANSFER) {
        p.fetchedBytes += done;
        p.toFetchBytes += expected;
      }
    }
    return p;
  }

  decode = (line: string, emit: LineSink): void => {
    if (!line.startsWith(PREFIX)) {
      emit('stderr', line);
      return;
    }
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line.slice(PREFIX.length)) as Record<string, unknown>;
    } catch {
      emit('stderr', line);
      return;
    }
    const id = typeof e.id === 'number' ? e.id : undefined;
    const level = typeof e.level === 'number' ? e.level : 0;
    switch (e.action) {
      case 'msg':
        if (level <= SHOWN_LEVEL && typeof e.msg === 'string') emitLines(emit, ansi(e.msg));
        return;
      case 'start': {
        if (id === undefined || typeof e.type !== 'number') return;
        this.activities.set(id, { type: e.type, fields: [] });
        if (level <= SHOWN_LEVEL && typeof e.text === 'string' && e.text.length > 0) emitLines(emit, ansi(e.text));
        return;
      }
      case 'stop':
        // Finished activities keep their last counts: the totals must not go backwards.
        return;
      case 'result': {
        const fields = Array.isArray(e.fields) ? e.fields : [];
        if (e.type === RES_BUILD_LOG_LINE || e.type === RES_POST_BUILD_LOG_LINE) {
          if (typeof fields[0] === 'string') emit('stderr', ansi(fields[0]));
          return;
        }
        if (e.type !== RES_PROGRESS || id === undefined) return;
        const a = this.activities.get(id);
        if (!a) return;
        a.fields = fields.map((f) => (typeof f === 'number' && Number.isFinite(f) && f >= 0 ? Math.floor(f) : 0));
        this.report(emit, a.type);
        return;
      }
      default:
        return;
    }
  };

  /** Emit a progress line when a count changed (bytes alone: at most once a second). */
  private report(emit: LineSink, type: number): void {
    const p = this.progress();
    const key = `${p.built}/${p.toBuild}/${p.running}/${p.failed}/${p.copied}/${p.toCopy}`;
    const bytesOnly = key === this.lastKey;
    if (bytesOnly && (type !== ACT_FILE_TRANSFER || this.now() - this.lastBytesAt < BYTES_INTERVAL_MS)) return;
    // Before anything runs Nix counts every goal as "expected", even ones it then finds valid
    // (an unchanged system reports 0/1 and stops): say nothing until work really starts.
    if (p.built === 0 && p.running === 0 && p.failed === 0 && p.copied === 0 && p.fetchedBytes === 0) return;
    this.lastKey = key;
    this.lastBytesAt = this.now();
    emit('info', describeBuildProgress(p), p);
  }
}

/**
 * One journal line per line of a message, as the plain log format prints it: newer Nix sends
 * an error with its whole trace as one `msg`, and the failing line (the op's last stderr
 * line, quoted in its error) must be the error itself, not the trace.
 */
function emitLines(emit: LineSink, text: string): void {
  const lines = text.split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  for (const l of lines) emit('stderr', l);
}
