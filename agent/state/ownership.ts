// What the agent checks at start, before it reads a token or writes a byte of state:
// the files that hold secrets and the state directory must be the agent user's alone.
// A token file that another user owns could be swapped for one holding their token; a
// state directory another user can write lets them plant a symlink where the (root)
// agent appends its audit records. Each refusal is one sentence naming the path and
// the command that fixes it.
import { lstatSync, mkdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { ConfigError, type AgentConfig } from '../config';

export class OwnershipError extends ConfigError {
  override name = 'OwnershipError';
}

const euid = () => process.geteuid?.() ?? 0;
const mode = (st: Stats) => (st.mode & 0o7777).toString(8).padStart(3, '0');
/** Owners a directory on the way to the state directory may have: root and the agent's user. */
const trustedOwner = (uid: number) => uid === 0 || uid === euid();

/** `file` (followed through symlinks) is a regular file of the agent's user, with no access for group or others. */
export function checkPrivateFile(file: string, what: string, allowGroupRead = false, whenMissing = 'create it or fix the path in the agent config'): void {
  let real: string;
  let st: Stats;
  try {
    real = realpathSync(file);
    st = statSync(real);
  } catch (err) {
    throw new OwnershipError(`${what} ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? err}); ${whenMissing}`);
  }
  const name = real === file ? file : `${file} (resolves to ${real})`;
  if (!st.isFile()) throw new OwnershipError(`${what} ${name} is not a regular file; point the agent config at the file itself`);
  if (st.uid !== euid() && !(allowGroupRead && st.uid === 0)) {
    throw new OwnershipError(`${what} ${name} is owned by uid ${st.uid}, not by the agent's user (uid ${euid()}), who alone may be able to change it; run: chown ${euid()} ${real}`);
  }
  if (allowGroupRead) {
    // Same words as the TLS reload check (server/tlsFiles.ts): a group-readable key is fine (ACME clients write 0640).
    if ((st.mode & 0o007) !== 0) throw new OwnershipError(`${what} ${name} is readable or writable by others (mode ${mode(st)}); run: chmod o-rwx ${real} (600, or 640 for a key shared with a group)`);
    if ((st.mode & 0o030) !== 0) throw new OwnershipError(`${what} ${name} is writable by its group (mode ${mode(st)}); run: chmod g-wx ${real}`);
    return;
  }
  if ((st.mode & 0o077) !== 0) {
    const how = (st.mode & 0o044) !== 0 ? 'readable by group or others' : 'writable by group or others';
    throw new OwnershipError(`${what} ${name} is ${how} (mode ${mode(st)}); run: chmod 600 ${real}`);
  }
}

/**
 * The state directory exists (created 0700 if missing), belongs to the agent's user and
 * only they can write it; every directory above it belongs to root or the agent's user
 * and is not writable by others (unless sticky, as /tmp: others cannot replace entries
 * they do not own there); no symlink on the way belongs to another user.
 */
export function checkStateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The path as written: a symlink on it that another user owns could be re-pointed.
  let prefix = '/';
  for (const part of dir.split('/').filter(Boolean)) {
    prefix = path.join(prefix, part);
    const st = lstatSync(prefix);
    if (st.isSymbolicLink() && !trustedOwner(st.uid)) {
      throw new OwnershipError(`the state directory ${dir} is reached through symlink ${prefix}, owned by uid ${st.uid} who could re-point it; set stateDir to the real path (${realpathSync(dir)})`);
    }
  }
  const real = realpathSync(dir);
  const st = statSync(real);
  if (st.uid !== euid()) {
    throw new OwnershipError(`the state directory ${real} is owned by uid ${st.uid}, not by the agent's user (uid ${euid()}); run: chown -R ${euid()} ${real}`);
  }
  if ((st.mode & 0o022) !== 0) {
    throw new OwnershipError(`the state directory ${real} is writable by group or others (mode ${mode(st)}), who could plant symlinks in it; run: chmod 700 ${real}`);
  }
  for (let up = path.dirname(real); ; up = path.dirname(up)) {
    const a = statSync(up);
    if (!trustedOwner(a.uid)) {
      throw new OwnershipError(`${up}, above the state directory ${real}, is owned by uid ${a.uid} (neither root nor the agent's user), who could replace the state directory; move stateDir elsewhere or run: chown root ${up}`);
    }
    if ((a.mode & 0o022) !== 0 && (a.mode & 0o1000) === 0) {
      throw new OwnershipError(`${up}, above the state directory ${real}, is writable by group or others without the sticky bit (mode ${mode(a)}), so they could replace the state directory; run: chmod go-w ${up}`);
    }
    if (up === '/') break;
  }
}

/** A config file others can change could point the agent anywhere: root's or the agent user's, not writable by others. */
export function checkConfigFile(file: string): void {
  const real = realpathSync(file);
  const st = statSync(real);
  if (!trustedOwner(st.uid)) {
    throw new OwnershipError(`config file ${real} is owned by uid ${st.uid} (neither root nor the agent's user), who could change what the agent runs; run: chown ${euid()} ${real}`);
  }
  if ((st.mode & 0o022) !== 0) throw new OwnershipError(`config file ${real} is writable by group or others (mode ${mode(st)}); run: chmod go-w ${real}`);
}

/**
 * Everything checked before an agent, a worker or a CLI op writes state or serves:
 * the config file, the state directory, the token file and the TLS key.
 */
export function checkAtStart(config: AgentConfig, configFile: string | undefined): void {
  if (configFile !== undefined) checkConfigFile(configFile);
  checkStateDir(config.stateDir);
  if (config.tokenFile) checkPrivateFile(config.tokenFile, 'token file');
  // A key shared with the agent's group (root-owned, 0640) is a common setup; others get nothing.
  if (config.tlsKey) checkPrivateFile(config.tlsKey, 'TLS key', true);
}
