// Bearer tokens: read from the configured token file (one token per line, "#" comments),
// which must not be readable by group or others. Compared by hashing both sides and
// crypto.timingSafeEqual, so neither the content nor the length leaks through timing.
// TokenFile re-reads the file when it changes, so a token is rotated without a restart.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync, type Stats } from 'node:fs';
import { checkPrivateFile } from '../state/ownership';

export class TokenFileError extends Error {
  override name = 'TokenFileError';
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export interface TokenSet {
  /** Identity (`token:<sha256 prefix>`) of the matching token, or undefined. */
  match(presented: string): string | undefined;
  count: number;
  /** The identities of every token in the file. */
  ids: ReadonlySet<string>;
}

export function tokenIdentity(token: string): string {
  return 'token:' + sha256(token).toString('hex').slice(0, 12);
}

export function loadTokens(file: string): TokenSet {
  // The same checks as at start (owner, mode, regular file), also on every re-read for a
  // rotation: a file swapped for another user's between two reads is refused as well.
  try {
    checkPrivateFile(file, 'token file', false, `create it with one token per line and chmod 600 ${file}`);
  } catch (err) {
    throw new TokenFileError((err as Error).message);
  }
  const tokens = readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (!tokens.length) throw new TokenFileError(`token file ${file} holds no token; put one token per line in it`);
  const hashes = tokens.map((t) => ({ hash: sha256(t), id: tokenIdentity(t) }));
  return {
    count: hashes.length,
    ids: new Set(hashes.map((h) => h.id)),
    match(presented: string) {
      const h = sha256(presented);
      let found: string | undefined;
      // Compare against every token so the time does not depend on which one matched.
      for (const t of hashes) if (timingSafeEqual(h, t.hash) && found === undefined) found = t.id;
      return found;
    },
  };
}

/** The token in an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return m?.[1];
}

/** What identifies one version of the file: a rename, rewrite or chmod changes it. */
function signature(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.mode}`;
}

export type TokenState = { tokens: TokenSet; error?: undefined } | { tokens?: undefined; error: string };

/**
 * The token file as it is now. `current()` costs one stat(2) while the file is unchanged
 * and re-reads it when it changed. A file that became unusable (gone, not a regular file,
 * readable by group or others, empty) yields an error and no tokens: the old tokens are
 * NOT kept, so every connection is refused until the operator fixes the file.
 */
export class TokenFile {
  private sig: string | undefined;
  private state: TokenState;

  /** `onChange` runs after every reload that changed the state (new tokens, or an error). */
  constructor(
    readonly file: string,
    private readonly onChange: (state: TokenState, previous: TokenState) => void = () => {},
  ) {
    // The first read throws: serve refuses to start with a bad token file.
    const st = statSync(file, { throwIfNoEntry: false });
    this.state = { tokens: loadTokens(file) };
    this.sig = st ? signature(st) : undefined;
  }

  current(): TokenState {
    let st: Stats | undefined;
    let statError: string | undefined;
    try {
      st = statSync(this.file);
    } catch (err) {
      statError = `token file ${this.file} cannot be read (${(err as NodeJS.ErrnoException).code}); create it with one token per line and chmod 600 ${this.file}`;
    }
    const sig = st ? signature(st) : `error:${statError}`;
    if (sig === this.sig) return this.state;
    this.sig = sig;
    const previous = this.state;
    if (statError) this.state = { error: statError };
    else {
      try {
        this.state = { tokens: loadTokens(this.file) };
      } catch (err) {
        this.state = { error: (err as Error).message };
      }
    }
    this.onChange(this.state, previous);
    return this.state;
  }
}
