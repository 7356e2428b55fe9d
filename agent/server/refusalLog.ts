// Refused attempts go to the audit log (who, what, when, why), but a flood of them must
// not fill the disk: per window (a minute) at most `perSource` records per source and
// `perWindow` in all, and at most `perHour` per hour; everything left out is counted and
// written as ONE summary record when the window closes. So the log grows by at most
// perHour full records + one summary a minute, whatever an attacker sends.
import { appendAudit, type RefusalRecord, type RefusalSummaryRecord } from '../journal/audit';

export interface RefusalLimits {
  perSource: number;
  perWindow: number;
  perHour: number;
  windowMs: number;
}

export const DEFAULT_REFUSAL_LIMITS: RefusalLimits = { perSource: 10, perWindow: 50, perHour: 200, windowMs: 60_000 };

/** Sources kept with their own count in one window; beyond that they share one counter. */
const MAX_TRACKED_SOURCES = 1000;
const SUMMARY_TOP = 20;

export type Refusal = Omit<RefusalRecord, 'event' | 'time'>;

/** Cut every string so that one record stays small whatever the attempt carried. */
function bounded(r: Refusal): Refusal {
  const cut = (s: string | undefined, n: number) => (s === undefined ? undefined : s.length > n ? s.slice(0, n) + '…' : s);
  const out: Refusal = {
    source: cut(r.source, 128)!,
    client: {
      name: cut(r.client.name, 128)!,
      auth: cut(r.client.auth, 128)!,
      ...(r.client.address !== undefined ? { address: cut(r.client.address, 128)! } : {}),
    },
    request: cut(r.request, 40)!,
    code: cut(r.code, 40)!,
    reason: cut(r.reason, 400)!,
  };
  if (r.op !== undefined) out.op = cut(r.op, 80);
  if (r.kind !== undefined) out.kind = cut(r.kind, 40);
  if (r.params !== undefined) out.params = cut(r.params, 512);
  if (r.presented !== undefined) out.presented = cut(r.presented, 40);
  return out;
}

export class RefusalLog {
  private windowStart: number;
  private windowWritten = 0;
  private readonly perSource = new Map<string, { written: number; suppressed: number }>();
  /** Refusals from sources beyond MAX_TRACKED_SOURCES in this window. */
  private untracked = 0;
  private readonly byCode = new Map<string, number>();
  private suppressed = 0;
  private hourStart: number;
  private hourWritten = 0;
  private timer: NodeJS.Timeout | undefined;
  private writeFailed = false;

  constructor(
    private readonly stateDir: string,
    private readonly limits: RefusalLimits = DEFAULT_REFUSAL_LIMITS,
    private readonly now: () => number = Date.now,
    private readonly warn: (text: string) => void = (t) => process.stderr.write(`nixfleet-agent: ${t}\n`),
  ) {
    this.windowStart = this.hourStart = now();
  }

  /** Record one refusal; true when it was written as its own record, false when only counted. */
  record(refusal: Refusal): boolean {
    const t = this.now();
    if (t - this.windowStart >= this.limits.windowMs) this.flush();
    if (t - this.hourStart >= 3_600_000) {
      this.hourStart = t;
      this.hourWritten = 0;
    }
    let src = this.perSource.get(refusal.source);
    if (!src) {
      if (this.perSource.size < MAX_TRACKED_SOURCES) this.perSource.set(refusal.source, (src = { written: 0, suppressed: 0 }));
    }
    const allowed = src !== undefined && src.written < this.limits.perSource && this.windowWritten < this.limits.perWindow && this.hourWritten < this.limits.perHour;
    if (allowed) {
      src!.written++;
      this.windowWritten++;
      this.hourWritten++;
      this.append({ event: 'refused', time: new Date(t).toISOString(), ...bounded(refusal) });
      return true;
    }
    this.suppressed++;
    this.byCode.set(refusal.code, (this.byCode.get(refusal.code) ?? 0) + 1);
    if (src) src.suppressed++;
    else this.untracked++;
    // The summary is due when the window closes, even if no further attempt arrives.
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), Math.max(0, this.windowStart + this.limits.windowMs - t));
      this.timer.unref();
    }
    return false;
  }

  /** Close the current window: write its summary if anything was left out. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const t = this.now();
    if (this.suppressed > 0) {
      const counted = [...this.perSource.entries()].filter(([, v]) => v.suppressed > 0).sort((a, b) => b[1].suppressed - a[1].suppressed);
      const rest = counted.slice(SUMMARY_TOP);
      const other = { sources: rest.length, refusals: rest.reduce((n, [, v]) => n + v.suppressed, 0) };
      const summary: RefusalSummaryRecord = {
        event: 'refused-summary',
        time: new Date(t).toISOString(),
        from: new Date(this.windowStart).toISOString(),
        to: new Date(t).toISOString(),
        suppressed: this.suppressed,
        bySource: Object.fromEntries(counted.slice(0, SUMMARY_TOP).map(([k, v]) => [k, v.suppressed])),
        ...(other.sources ? { otherSources: other } : {}),
        ...(this.untracked ? { untracked: this.untracked } : {}),
        byCode: Object.fromEntries(this.byCode),
      };
      this.append(summary);
    }
    this.windowStart = t;
    this.windowWritten = 0;
    this.perSource.clear();
    this.byCode.clear();
    this.untracked = 0;
    this.suppressed = 0;
  }

  close(): void {
    this.flush();
  }

  private append(record: Parameters<typeof appendAudit>[1]): void {
    try {
      appendAudit(this.stateDir, record);
      this.writeFailed = false;
    } catch (err) {
      // A full or read-only disk must not take the agent down; say so once per outage.
      if (!this.writeFailed) this.warn(`cannot write the audit log in ${this.stateDir} (${(err as Error).message}); refused attempts are not being recorded`);
      this.writeFailed = true;
    }
  }
}
