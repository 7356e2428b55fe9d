// Noticing ops that other processes (the CLI, another agent instance) start on this host,
// so this agent's clients get op.state for them and host.status when they end.
import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import type { OpInfo } from '../../protocol';
import { listOpIds, readOpInfo } from '../journal/opStore';
import { opsDir } from '../journal/paths';

export class ForeignOpScanner {
  private watcher?: FSWatcher;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  /** `known`: op ids this process has seen (its own included); `found` hears each new running op once. */
  constructor(
    private readonly stateDir: string,
    private readonly known: Set<string>,
    private readonly found: (info: OpInfo) => void,
  ) {
    mkdirSync(opsDir(stateDir), { recursive: true, mode: 0o700 });
    // fs.watch announces a new op directory at once; the timer catches what it misses and
    // ops whose op.json was not written yet when their directory appeared.
    this.timer = setInterval(() => this.scan(), 1000);
    this.timer.unref();
    try {
      this.watcher = watch(opsDir(stateDir), { persistent: false }, () => setTimeout(() => this.scan(), 20).unref());
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      this.watcher = undefined;
    }
  }

  private scan(): void {
    if (this.closed) return;
    for (const id of listOpIds(this.stateDir)) {
      if (this.known.has(id)) continue;
      let info: OpInfo | undefined;
      try {
        info = readOpInfo(this.stateDir, id);
      } catch {
        continue;
      }
      if (!info) continue; // being created: next scan
      this.known.add(id);
      if (info.state === 'running') this.found(info);
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.watcher?.close();
  }
}
