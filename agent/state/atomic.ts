// State files are replaced whole (temp file, fsync, rename, fsync of the directory): a
// reader, or an agent restarted after kill -9 or a power cut, sees the old contents or the
// new, never half of either. The one way the agent replaces a file.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

import { CREATE_NEW } from './noFollow';

let counter = 0;

/**
 * Replace `file` with `text`. The directory must exist: creating it here would bring back
 * an op directory another process just moved aside.
 */
export function writeFileAtomicSync(file: string, text: string, mode = 0o600): void {
  // The temp name is guessable, so it is created O_EXCL|O_NOFOLLOW: a planted symlink fails
  // the write instead of redirecting it.
  const tmp = `${file}.tmp-${process.pid}-${++counter}`;
  const fd = openSync(tmp, CREATE_NEW, mode);
  try {
    try {
      const data = Buffer.from(text, 'utf8');
      for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
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
}

/** Replace `file` with `value` as indented JSON. */
export function writeJsonAtomicSync(file: string, value: unknown, mode = 0o600): void {
  writeFileAtomicSync(file, JSON.stringify(value, null, 2) + '\n', mode);
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
