// Output lines arrive by seq, possibly again after a reconnect or an agent restart (the
// resume replays from the last seq the client acknowledged). This keeps, per op, the highest
// seq already shown, so each line is shown exactly once and in order. The one seq
// de-duplication of the extension: the protocol client (agentClient.ts) and the fleet both use
// it. (The agent's twin, for journal replay, is in agent/server/subscription.ts.)
import type { OutputLine } from '../../protocol';

export class OutputTracker {
  private readonly shown = new Map<string, number>();

  /** Highest seq shown for `op` (0 when none): the `fromSeq` to resume from. */
  lastSeq(op: string): number {
    return this.shown.get(op) ?? 0;
  }

  /** The lines of a batch not shown yet, and marks them shown. Gaps are reported, not hidden. */
  accept(op: string, lines: readonly OutputLine[]): { fresh: OutputLine[]; gap?: { from: number; to: number } } {
    let last = this.lastSeq(op);
    // The usual batch: the next lines, in order. Output is the bulk of the traffic: no copy.
    const end = lines[lines.length - 1];
    if (end && lines[0]!.seq === last + 1 && end.seq === last + lines.length) {
      this.shown.set(op, end.seq);
      return { fresh: lines as OutputLine[] };
    }
    const fresh: OutputLine[] = [];
    let gap: { from: number; to: number } | undefined;
    for (const line of [...lines].sort((a, b) => a.seq - b.seq)) {
      if (line.seq <= last) continue;
      if (line.seq > last + 1 && !gap) gap = { from: last + 1, to: line.seq - 1 };
      fresh.push(line);
      last = line.seq;
    }
    this.shown.set(op, last);
    return { fresh, gap };
  }

  /** Resume `op` after `seq`: lines up to it count as shown. */
  resumeFrom(op: string, seq: number): void {
    this.shown.set(op, seq);
  }

  forget(op: string): void {
    this.shown.delete(op);
  }
}
