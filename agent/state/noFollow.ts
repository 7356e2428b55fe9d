// Opening files in the state directory without following symlinks. The directory is
// checked at start (agent/state/ownership.ts), but the agent often runs as root: a
// symlink planted in it (by a previous misconfiguration, or another user while it was
// writable) must make the write fail with ELOOP, never redirect it into another file.
import { closeSync, constants, openSync, writeSync } from 'node:fs';

const { O_WRONLY, O_RDWR, O_APPEND, O_CREAT, O_EXCL, O_TRUNC, O_NOFOLLOW } = constants;

/** Append, creating the file if needed (audit log, a worker's stderr log). */
export const APPEND = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW;
/** Append and read back (the journal writer scans its tail on open). */
export const APPEND_READ = O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW;
/** Replace the contents (marker files: cancel requested, confirmed). */
export const REPLACE = O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW;
/** A new file that must not exist yet (temp files of atomic replaces, lock guards). */
export const CREATE_NEW = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;

/** Write `text` to `file` opened with `flags`, all of it, and close. */
export function writeNoFollowSync(file: string, text: string, flags: number, mode = 0o600): void {
  const fd = openSync(file, flags, mode);
  try {
    const data = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
  } finally {
    closeSync(fd);
  }
}
