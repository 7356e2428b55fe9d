// Where `nixfleet` writes: results on stdout (JSON with --json), progress, op output that
// is not the op's stdout, questions and errors on stderr, so `--json | jq` stays clean.
// Everything written is flushed before the process exits, also into a slow pipe.
import type { OutputLine } from '../../protocol';

export interface Streams {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export class Output {
  constructor(private readonly s: Streams = { stdout: process.stdout, stderr: process.stderr }) {}

  /** stdout is a terminal (tables with a header and padding, else tab-separated lines). */
  get terminal(): boolean {
    return this.s.stdout.isTTY === true;
  }

  print(text: string): void {
    this.s.stdout.write(text + '\n');
  }

  json(value: unknown): void {
    this.s.stdout.write(JSON.stringify(value, null, 2) + '\n');
  }

  /** Progress and notes: stderr. */
  note(text: string): void {
    this.s.stderr.write(text + '\n');
  }

  /** One op's journal line, as the agent's CLI prints it: its stdout to stdout (not with --json), the rest to stderr. */
  opLine(l: OutputLine, json: boolean, prefix = ''): void {
    const out = l.stream === 'stdout' && !json ? this.s.stdout : this.s.stderr;
    out.write(prefix + (l.stream === 'info' ? '» ' : '') + l.text + '\n');
  }

  /**
   * Rows under a header: aligned on a terminal; tab-separated without the header when
   * piped, so `cut -f`/`awk -F'\t'` read it.
   */
  table(header: string[], rows: string[][]): void {
    if (!this.terminal) {
      for (const r of rows) this.print(r.join('\t'));
      return;
    }
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
    this.print(line(header));
    for (const r of rows) this.print(line(r));
  }

  /** Resolves once everything written so far left the process (a pipe's reader may be slow). */
  async flush(): Promise<void> {
    await Promise.all([this.s.stdout, this.s.stderr].map((w) => new Promise<void>((resolve) => (w.writableEnded || w.destroyed ? resolve() : w.write('', () => resolve())))));
  }
}
