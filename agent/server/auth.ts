// Bearer tokens: read from the configured token file (one token per line, "#" comments),
// which must not be readable by group or others. Compared by hashing both sides and
// crypto.timingSafeEqual, so neither the content nor the length leaks through timing.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

export class TokenFileError extends Error {
  override name = 'TokenFileError';
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export interface TokenSet {
  /** Identity (`token:<sha256 prefix>`) of the matching token, or undefined. */
  match(presented: string): string | undefined;
  count: number;
}

export function tokenIdentity(token: string): string {
  return 'token:' + sha256(token).toString('hex').slice(0, 12);
}

export function loadTokens(file: string): TokenSet {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    throw new TokenFileError(`token file ${file} cannot be read (${(err as NodeJS.ErrnoException).code}); create it with one token per line and chmod 600 ${file}`);
  }
  if (!st.isFile()) throw new TokenFileError(`token file ${file} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new TokenFileError(`token file ${file} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
  }
  const tokens = readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (!tokens.length) throw new TokenFileError(`token file ${file} holds no token; put one token per line in it`);
  const hashes = tokens.map((t) => ({ hash: sha256(t), id: tokenIdentity(t) }));
  return {
    count: hashes.length,
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
