// What `git config` reads in a checkout, as one string that changes whenever any of it
// does: the git on PATH, the variables that move or add configuration, the owners git's
// safe.directory check looks at, and the contents of every file git would read (system,
// global, the repository's own). An answer git gave while the key was K is the answer it
// would give again while the key is K, so it can be reused without a git process
// (git/env.ts: a standby worker asks for core.sshCommand before its op, and the op, ~7 ms
// later on the switch's path without this, asks only when something changed).
//
// Undefined, and git is asked each time, whenever the files git reads cannot be told here
// without git: an include (the included file is not in the key), a checkout whose .git is
// not a directory (a linked worktree, a submodule) or that is below its repository's top,
// GIT_DIR or GIT_COMMON_DIR set, no git on PATH.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { programOnPath } from '../exec';

/** `[include]` and `[includeIf "…"]` sections, in git's case-insensitive section names. */
const INCLUDE_RE = /^\s*\[\s*include(if)?\b/im;

/** Variables that decide which configuration git reads, besides the files named below. */
const KEY_VARS = /^(GIT_CONFIG\w*|HOME|XDG_CONFIG_HOME|GIT_CEILING_DIRECTORIES)$/;

export function gitConfigKey(dir: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!path.isAbsolute(dir) || env.GIT_DIR || env.GIT_COMMON_DIR) return undefined;
  const git = programOnPath('git', env);
  if (!git) return undefined;
  const gitDir = path.join(dir, '.git');
  let owners: string;
  try {
    const repo = statSync(gitDir);
    if (!repo.isDirectory()) return undefined;
    owners = `${statSync(dir).uid}:${repo.uid}`;
  } catch {
    return undefined;
  }
  const home = env.HOME;
  const xdg = env.XDG_CONFIG_HOME || (home && path.join(home, '.config'));
  // Every place git may read: its system file as Debian and NixOS build it, and under its
  // own prefix (a git built elsewhere); both global files; the repository's files. A file
  // git would not read here makes the key only stricter.
  const files = [
    env.GIT_CONFIG_SYSTEM,
    '/etc/gitconfig',
    path.join(path.dirname(path.dirname(git.file)), 'etc', 'gitconfig'),
    env.GIT_CONFIG_GLOBAL,
    xdg && path.join(xdg, 'git', 'config'),
    home && path.join(home, '.gitconfig'),
    path.join(gitDir, 'config'),
    path.join(gitDir, 'config.worktree'),
  ].filter((f): f is string => !!f);
  const vars = Object.keys(env)
    .filter((k) => KEY_VARS.test(k))
    .sort()
    .map((k) => `${k}=${env[k]}`);
  const parts = [git.identity, owners, ...vars];
  for (const file of new Set(files)) {
    let text: string;
    try {
      // Most of these files do not exist: asked without an exception for each.
      if (!statSync(file, { throwIfNoEntry: false })) {
        parts.push(`${file} -`);
        continue;
      }
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return undefined; // unreadable: git may say more
      parts.push(`${file} -`);
      continue;
    }
    if (INCLUDE_RE.test(text)) return undefined;
    parts.push(`${file} ${text.length}\n${text}`);
  }
  return parts.join('\0');
}
