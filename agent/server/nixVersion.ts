// The Nix version for `welcome` and host status. The server asks `nix --version` with
// node's execFile (an argv array, no shell) rather than through agent/exec.ts, so the
// long-running agent does not load execa just for this: its idle memory is a tracked
// target (bench/idle-rss.bench.ts). Workers, which run commands, use detectNix().
import { execFile } from 'node:child_process';
import type { NixInfo } from '../ops/types';

export function probeNixVersion(): Promise<NixInfo> {
  return new Promise((resolve, reject) => {
    execFile('nix', ['--version'], { timeout: 30_000 }, (err, stdout) => {
      const m = /\bnix \(Nix\) ([0-9]+\.[0-9]+(?:\.[0-9]+)?)/.exec(stdout ?? '') ?? /\b([0-9]+\.[0-9]+(?:\.[0-9]+)?)\b/.exec(stdout ?? '');
      if (err || !m) {
        return reject(new Error(`cannot run "nix --version" (${err?.message ?? 'no version in its output'}); install Nix or put it on the agent's PATH`));
      }
      const version = m[1]!;
      const [major = 0, minor = 0] = version.split('.').map(Number);
      const newSpelling = major > 2 || (major === 2 && minor >= 19);
      resolve({
        version,
        flakeUpdateInput: (input) => (newSpelling ? ['nix', 'flake', 'update', input] : ['nix', 'flake', 'lock', '--update-input', input]),
      });
    });
  });
}
