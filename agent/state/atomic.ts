// State files are replaced whole (temp file, fsync, rename): a reader, or an agent
// restarted after kill -9, sees the old contents or the new, never half of either.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

import { CREATE_NEW } from './noFollow';

let counter = 0;

export function writeFileAtomicSync(file: string, text: string, mode = 0o600): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}-${++counter}`;
  try {
    const fd = openSync(tmp, CREATE_NEW, mode);
    try {
      writeSync(fd, text);
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
