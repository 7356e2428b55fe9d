// State files are replaced whole (write a temp file, fsync, rename) so a reader, or an
// agent restarted after kill -9, sees either the old or the new contents, never half.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { rename, open } from 'node:fs/promises';

import { CREATE_NEW } from '../state/noFollow';

let counter = 0;
const tmpName = (file: string) => `${file}.tmp-${process.pid}-${++counter}`;

export function writeJsonAtomicSync(file: string, value: unknown, mode = 0o600): void {
  const tmp = tmpName(file);
  const fd = openSync(tmp, CREATE_NEW, mode);
  try {
    writeSync(fd, JSON.stringify(value, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export async function writeJsonAtomic(file: string, value: unknown, mode = 0o600): Promise<void> {
  const tmp = tmpName(file);
  const fh = await open(tmp, CREATE_NEW, mode);
  try {
    await fh.writeFile(JSON.stringify(value, null, 2) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

/** Read and parse a JSON file; undefined when it does not exist. */
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
