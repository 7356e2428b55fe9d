// Notice that a journal (or an op's state file) changed: fs.watch for promptness, plus a
// polling timer because fs.watch can miss events (network filesystems, some
// containers) or be unavailable. Listeners re-read from their own offsets, so a
// spurious or coalesced notification is harmless.
import { watch, statSync, type FSWatcher } from 'node:fs';

export class FileWatcher {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout;
  private lastSize = -1;
  private lastMtime = -1;
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly onChange: () => void,
    pollMs = 250,
  ) {
    try {
      this.watcher = watch(file, { persistent: false }, () => this.fire());
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      this.watcher = undefined; // polling alone
    }
    this.timer = setInterval(() => this.poll(), this.watcher ? pollMs * 4 : pollMs);
    this.timer.unref();
  }

  private poll(): void {
    try {
      const st = statSync(this.file);
      if (st.size !== this.lastSize || st.mtimeMs !== this.lastMtime) {
        this.lastSize = st.size;
        this.lastMtime = st.mtimeMs;
        this.fire();
      }
    } catch {
      /* not there yet, or removed */
    }
  }

  private fire(): void {
    if (!this.closed) this.onChange();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.watcher?.close();
  }
}
