// The TLS certificate and key of `serve`, re-read when either file changes, so a renewed
// certificate (ACME renews every 60 days or so) is served without restarting the agent.
// Checking costs two stat(2) calls while nothing changed. A replacement that does not
// load (garbage, a key that does not match, a key readable by others, a file
// that is gone) never replaces the pair being served: the agent keeps its working
// certificate and says what is wrong, and picks the files up once they are fixed.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, statSync, type Stats } from 'node:fs';
import { createSecureContext } from 'node:tls';

export class TlsFileError extends Error {
  override name = 'TlsFileError';
}

/** One loaded, consistent certificate + key pair. */
export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  /** SHA-256 fingerprint of the (first) certificate, "AB:CD:…", as clients show it. */
  fingerprint: string;
  subject: string;
  validTo: Date;
}

/** A failed load stays quiet this long while the files keep changing: cert and key are rarely replaced in one step. */
export const TLS_SETTLE_MS = 1000;

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

function statFile(file: string, what: string): Stats {
  let st: Stats;
  try {
    st = statSync(file);
  } catch (err) {
    throw new TlsFileError(`TLS ${what} ${file} cannot be read (${errno(err)}); put the PEM ${what} there (config key ${what === 'key' ? 'tlsKey' : 'tlsCert'})`);
  }
  if (!st.isFile()) throw new TlsFileError(`TLS ${what} ${file} is not a regular file; point ${what === 'key' ? 'tlsKey' : 'tlsCert'} at the PEM file`);
  return st;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TlsFileError(`TLS ${what} ${file} cannot be read (${errno(err)}); make it readable by the agent's user`);
  }
}

/** Read and check both files; throws a TlsFileError naming the file at fault and the fix. */
export function loadTlsPair(certFile: string, keyFile: string): TlsPair {
  statFile(certFile, 'certificate');
  const keySt = statFile(keyFile, 'key');
  // Group-readable (0640) is how ACME clients and NixOS' security.acme hand keys to the
  // services of a group: accepted. Readable or writable by everyone is not.
  if ((keySt.mode & 0o007) !== 0) {
    throw new TlsFileError(`TLS key ${keyFile} is readable or writable by others (mode ${(keySt.mode & 0o777).toString(8)}); run: chmod o-rwx ${keyFile} (600, or 640 for a key shared with a group)`);
  }
  const cert = readPem(certFile, 'certificate');
  const key = readPem(keyFile, 'key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new TlsFileError(`TLS certificate ${certFile} does not hold a PEM certificate (${(err as Error).message}); write the certificate (or full chain) in PEM form there`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new TlsFileError(`TLS key ${keyFile} does not hold an unencrypted PEM private key (${(err as Error).message}); write the certificate's private key there, without a passphrase`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsFileError(`TLS key ${keyFile} does not belong to the certificate in ${certFile}; install the key the certificate was issued for (or both files of one renewal)`);
  }
  try {
    // What the server will do with them: catches what the checks above do not (e.g. a broken chain entry).
    createSecureContext({ cert, key });
  } catch (err) {
    throw new TlsFileError(`TLS certificate ${certFile} and key ${keyFile} cannot be used together (${(err as Error).message})`);
  }
  return { cert, key, fingerprint: x509.fingerprint256, subject: x509.subject.replace(/\n/g, ', '), validTo: new Date(x509.validTo) };
}

/** What identifies one version of the pair: a rename, rewrite or chmod of either file changes it. */
function signature(certFile: string, keyFile: string): string {
  return [certFile, keyFile]
    .map((f) => {
      try {
        const st = statSync(f);
        return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.mode}`;
      } catch (err) {
        return `error:${errno(err)}`;
      }
    })
    .join('|');
}

export interface TlsFilesEvents {
  /**
   * A new pair is served (from now on, for new connections), or the same pair loads
   * again after a reported failure (`recovered`).
   */
  reloaded(pair: TlsPair, previous: TlsPair, recovered: boolean): void;
  /** The files changed but do not load; `serving` is still served. Once per broken state. */
  failed(error: string, serving: TlsPair): void;
}

export class TlsFiles {
  private sig: string;
  private pair: TlsPair;
  /** The signature that failed to load, since when, and whether that was reported. */
  private failing: { sig: string; error: string; since: number; reported: boolean } | undefined;

  /** Throws a TlsFileError when the files do not load: serve refuses to start without a working pair. */
  constructor(
    readonly certFile: string,
    readonly keyFile: string,
    private readonly events: TlsFilesEvents,
    private readonly apply: (pair: TlsPair) => void,
  ) {
    this.sig = signature(certFile, keyFile);
    this.pair = loadTlsPair(certFile, keyFile);
  }

  /** The pair being served. */
  get current(): TlsPair {
    return this.pair;
  }

  /**
   * Re-read the files if they changed. `report` says a broken state may be logged now
   * (the periodic check) rather than silently retried (the per-connection check).
   */
  check(report = true): void {
    const sig = signature(this.certFile, this.keyFile);
    const now = Date.now();
    if (sig === this.sig) {
      if (this.failing && !this.failing.reported && report && now - this.failing.since >= TLS_SETTLE_MS) {
        this.failing.reported = true;
        this.events.failed(this.failing.error, this.pair);
      }
      return;
    }
    this.sig = sig;
    let next: TlsPair;
    try {
      next = loadTlsPair(this.certFile, this.keyFile);
    } catch (err) {
      const error = err instanceof TlsFileError ? err.message : `TLS certificate ${this.certFile} / key ${this.keyFile}: ${(err as Error).message}`;
      // The same error for a new version of the files (e.g. a second bad write) is not news.
      const reported = this.failing?.reported === true && this.failing.error === error;
      this.failing = { sig, error, since: now, reported };
      return;
    }
    const recovered = this.failing?.reported === true;
    this.failing = undefined;
    const previous = this.pair;
    const same = next.cert.equals(previous.cert) && next.key.equals(previous.key);
    // Touched or rewritten with the same content: nothing to apply.
    if (!same) this.apply(next);
    this.pair = next;
    if (!same || recovered) this.events.reloaded(next, previous, recovered);
  }
}
