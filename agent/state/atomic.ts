// State files are replaced whole (temp file, fsync, rename, fsync of the directory): a
// reader, or an agent restarted after kill -9 or a power cut, sees the old contents or the
// new, never half of either. The one way the agent replaces a file.
import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync, type BigIntStats } from 'node:fs';
import path from 'node:path';

import { CREATE_NEW } from './noFollow';

let counter = 0;

/** `durable: false` for records that only describe live processes (a worker, the lock's holder): a power cut ends those processes whatever the file says, so the fsyncs buy nothing there; the replace stays atomic. */
export interface AtomicWriteOptions {
  mode?: number;
  durable?: boolean;
}

/**
 * Replace `file` with `text`. The directory must exist: creating it here would bring back
 * an op directory another process just moved aside. Returns the written file's identity
 * (the rename keeps it), for a cache of what this process wrote (state/metadata.ts).
 */
export function writeFileAtomicSync(file: string, text: string, { mode = 0o600, durable = true }: AtomicWriteOptions = {}): BigIntStats {
  // The temp name is guessable, so it is created O_EXCL|O_NOFOLLOW: a planted symlink fails
  // the write instead of redirecting it.
  const tmp = `${file}.tmp-${process.pid}-${++counter}`;
  const fd = openSync(tmp, CREATE_NEW, mode);
  let written: BigIntStats;
  try {
    try {
      const data = Buffer.from(text, 'utf8');
      for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
      if (durable) fsyncSync(fd);
      written = fstatSync(fd, { bigint: true });
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  if (!durable) return written;
  // The rename itself must reach the disk too, or a crash could bring back the old file.
  try {
    const dirFd = openSync(path.dirname(file), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic.
  }
  return written;
}

/** Replace `file` with `value` as indented JSON. */
export function writeJsonAtomicSync(file: string, value: unknown, opts: AtomicWriteOptions = {}): BigIntStats {
  return writeFileAtomicSync(file, JSON.stringify(value, null, 2) + '\n', opts);
}

/** Read and parse a JSON state file; undefined when it does not exist. */
export function readJsonSync(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text);
}

/**
 * Make files written with `durable: false` durable now: each file's data, then the entry
 * of each distinct directory (once, also when it is named itself: a directory just made
 * is made durable in its parent by naming it). A file removed since is skipped: there is
 * nothing of it to keep.
 */
export function syncFiles(files: readonly string[]): void {
  for (const target of new Set([...files, ...files.map((f) => path.dirname(f))])) {
    let fd: number;
    try {
      fd = openSync(target, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    try {
      fsyncSync(fd);
    } catch (err) {
      // Some file systems refuse fsync on a directory; the rename is still atomic.
      if (!fstatSync(fd).isDirectory()) throw err;
    } finally {
      closeSync(fd);
    }
  }
}
