// Agent tokens for the CLI, never on the command line (it shows in `ps` and shell history):
//   --tokens-file FILE: one "HOST TOKEN" per line ("#" comments, blank lines ignored), a
//     regular file of mode 0600 (or stricter) owned by the user running nixfleet; a file
//     that group or others could read, or that someone else owns, is refused;
//   NIXFLEET_TOKEN_<HOST>: for CI secrets. <HOST> is the host name upper-cased with every
//     character other than A-Z and 0-9 turned into "_" (alice@h3 → NIXFLEET_TOKEN_ALICE_H3).
//     It takes precedence over the file for that host.
import { readFileSync, lstatSync } from 'node:fs';
import { hostName, printable } from '../../../protocol';

export class TokensError extends Error {
  override name = 'TokensError';
}

/** Tokens are sent as `Authorization: Bearer TOKEN`: printable ASCII without spaces. */
const TOKEN_RE = /^[\x21-\x7e]{1,4096}$/;

export function tokenEnvName(host: string): string {
  return `NIXFLEET_TOKEN_${host.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * A secret file the CLI reads (tokens, broker credentials): a regular file (not a symlink),
 * mode 0600 or stricter, owned by the user running nixfleet. Throws `Err` with one sentence
 * naming the file and the fix. `what`: "tokens file", "credentials file"; `fix`: how to create it.
 */
export function checkPrivateFile<E extends Error>(file: string, what: string, fix: string, Err: new (message: string) => E, uid = process.getuid?.()): void {
  let st;
  try {
    // lstat: a symlink could point the check at one file and the read at another.
    st = lstatSync(file);
  } catch (err) {
    throw new Err(`${what} ${file} cannot be read (${(err as NodeJS.ErrnoException).code}); ${fix} and chmod 600 ${file}`);
  }
  if (!st.isFile()) throw new Err(`${what} ${file} is not a regular file (symlinks are refused); give the file itself`);
  if ((st.mode & 0o077) !== 0) {
    throw new Err(`${what} ${file} is readable or writable by group or others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
  }
  if (uid !== undefined && st.uid !== uid) {
    throw new Err(`${what} ${file} is owned by uid ${st.uid}, not by you (uid ${uid}); use a ${what} of your own (chown it, or copy it and chmod 600)`);
  }
}

export function readTokensFile(file: string, uid = process.getuid?.()): Map<string, string> {
  checkPrivateFile(file, 'tokens file', 'create it with one "HOST TOKEN" line per host', TokensError, uid);
  const tokens = new Map<string, string>();
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const fields = line.split(/\s+/);
      const where = `tokens file ${file} line ${i + 1}`;
      if (fields.length !== 2) throw new TokensError(`${where} is not "HOST TOKEN" (two fields separated by spaces); fix that line`);
      const [host, token] = fields as [string, string];
      if (!hostName.safeParse(host).success) throw new TokensError(`${where}: "${printable(host)}" is not a host name; fix that line`);
      if (!TOKEN_RE.test(token)) throw new TokensError(`${where}: the token of ${host} holds characters a bearer token cannot carry; fix that line`);
      if (tokens.has(host)) throw new TokensError(`${where}: host ${host} has a token on an earlier line too; keep one line per host`);
      tokens.set(host, token);
    });
  return tokens;
}

/** Each host's token: its environment variable, else its line in the tokens file. */
export class TokenStore {
  constructor(
    private readonly fromFile: ReadonlyMap<string, string>,
    private readonly env: NodeJS.ProcessEnv,
    /** Every host name of the source: two names sharing one variable make it ambiguous. */
    private readonly hostNames: readonly string[],
    readonly file: string | undefined,
  ) {}

  get(host: string): string | undefined {
    const name = tokenEnvName(host);
    const value = this.env[name];
    if (value !== undefined && value !== '') {
      const twin = this.hostNames.find((h) => h !== host && tokenEnvName(h) === name);
      if (twin) throw new TokensError(`${name} would be the token of both ${host} and ${twin}; put these hosts' tokens in a tokens file instead`);
      if (!TOKEN_RE.test(value)) throw new TokensError(`${name} holds characters a bearer token cannot carry (spaces, newlines, non-ASCII); set it to the host's token alone`);
      return value;
    }
    return this.fromFile.get(host);
  }

  /** Where to put the token of `host`, for messages. */
  advice(host: string): string {
    return `add a line "${host} TOKEN" to ${this.file ?? 'a tokens file (--tokens-file FILE, mode 0600)'} or set ${tokenEnvName(host)}`;
  }
}
