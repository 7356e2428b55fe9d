// Work on many keys, a few at a time, the first in a given order first: a key waits once however
// often it is asked for, and never runs twice at the same time (a second run starts after the
// first ends, so the newer answer is the one that lands last). A run that takes long gives its
// place up after `slotMs` and goes on uncounted, so one key that does not answer holds no other up.
// Not p-queue: its priorities are fixed when a job is added and it neither merges nor serialises
// jobs by key, which is most of what this does.

export interface OrderedPoolOptions<K> {
  /** Keys running at once. */
  atOnce: number;
  /** How long a run holds its place. */
  slotMs: number;
  /** Which waiting key goes first (read when a place frees, so a changed order counts). */
  order(a: K, b: K): number;
  /** `release` gives the place up before the run ends (the run goes on, uncounted). */
  work(key: K, release: () => void): Promise<void>;
}

interface Waiter {
  done: Promise<void>;
  resolve: () => void;
}

export class OrderedPool<K> {
  private readonly waiting = new Map<K, Waiter>();
  private readonly running = new Set<K>();
  private held = 0;
  private disposed = false;

  constructor(private readonly opts: OrderedPoolOptions<K>) {}

  /** Run `key`'s work; resolves after a run that started after this call (or on dispose). */
  run(key: K): Promise<void> {
    return this.runAll([key]);
  }

  /** Run each key's work, all of them waiting their turn together (the first in order starts first). */
  async runAll(keys: Iterable<K>): Promise<void> {
    if (this.disposed) return;
    const runs = [...keys].map((key) => this.enqueue(key));
    this.next();
    await Promise.all(runs);
  }

  private enqueue(key: K): Promise<void> {
    let w = this.waiting.get(key);
    if (!w) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      w = { done, resolve };
      this.waiting.set(key, w);
    }
    return w.done;
  }

  private next(): void {
    while (!this.disposed && this.held < this.opts.atOnce) {
      const key = this.first();
      if (key === undefined) return;
      this.start(key[0]);
    }
  }

  private start(key: K): void {
    const w = this.waiting.get(key)!;
    this.waiting.delete(key);
    this.running.add(key);
    this.held++;
    let holding = true;
    const release = () => {
      if (!holding) return;
      holding = false;
      this.held--;
      this.next();
    };
    // Keeps no process alive by itself (the CLI's, a test's): the run it times does, while it goes on.
    const timer = setTimeout(release, this.opts.slotMs).unref();
    void this.opts
      .work(key, release)
      .catch(() => undefined)
      .then(() => {
        clearTimeout(timer);
        this.running.delete(key);
        w.resolve();
        release();
        // The key may have been asked for again while it ran, its place already given up.
        this.next();
      });
  }

  /** The waiting key that comes first and is not running, boxed (a key may be falsy). */
  private first(): [K] | undefined {
    let best: [K] | undefined;
    for (const k of this.waiting.keys()) {
      if (this.running.has(k)) continue;
      if (!best || this.opts.order(k, best[0]) < 0) best = [k];
    }
    return best;
  }

  dispose(): void {
    this.disposed = true;
    for (const w of this.waiting.values()) w.resolve();
    this.waiting.clear();
  }
}
