// The Nix version for `welcome` and host status. The server asks `nix --version` with
// node's execFile (an argv array, no shell) rather than through agent/exec.ts, so the
// long-running agent does not load execa just for this: its idle memory is a tracked
// target (bench/idle-rss.bench.ts). Workers, which run commands, use detectNix().
import { execFile } from 'node:child_process';
import { nixInfoFor, parseNixVersion } from '../nix/version';
import type { NixInfo } from '../ops/types';

export function probeNixVersion(): Promise<NixInfo> {
  return new Promise((resolve, reject) => {
    execFile('nix', ['--version'], { timeout: 30_000 }, (err, stdout) => {
      if (err) {
        return reject(new Error(`cannot run "nix --version" (${err.message}); install Nix or put it on the agent's PATH`));
      }
      try {
        resolve(nixInfoFor(parseNixVersion(stdout)));
      } catch (e) {
        reject(e);
      }
    });
  });
}
