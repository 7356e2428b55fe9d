// Batches refresh requests: many "host X changed" signals within `delayMs` become one run
// with the union of the hosts; a request during a run schedules exactly one more run.
// Nothing polls: runs happen only when something asked.

export class RefreshQueue<K> {
  private pending = new Set<K>();
  private all = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private waiters: Array<() => void> = [];
  private disposed = false;

  constructor(
    private readonly run: (keys: Set<K> | 'all') => Promise<void>,
    private readonly delayMs = 150,
  ) {}

  /** Ask for a refresh of `key` (or everything); resolves after a run that covers it. */
  queue(key?: K): Promise<void> {
    if (this.disposed) return Promise.resolve();
    if (key === undefined) this.all = true;
    else this.pending.add(key);
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    if (!this.timer && !this.running) this.timer = setTimeout(() => void this.flush(), this.delayMs);
    return done;
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    const keys: Set<K> | 'all' = this.all ? 'all' : this.pending;
    const waiters = this.waiters;
    this.pending = new Set();
    this.all = false;
    this.waiters = [];
    this.running = this.run(keys).catch(() => undefined);
    await this.running;
    this.running = undefined;
    for (const w of waiters) w();
    if ((this.pending.size || this.all) && !this.disposed) this.timer = setTimeout(() => void this.flush(), this.delayMs);
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.waiters) w();
    this.waiters = [];
  }
}
