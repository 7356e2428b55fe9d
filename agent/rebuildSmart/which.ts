// Finding a program on PATH without running it: a dry run must not start anything, and
// detecting an absent tool should not cost a process.
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

export function which(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
