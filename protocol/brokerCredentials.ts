// A NATS credentials text as an authenticator, for agents and controllers alike. Two
// forms: a `.creds` file (JWT + seed, for servers run in operator/JWT mode) and a bare
// user nkey seed ("SU…", as `nixfleet-agent broker-config` writes for config-file mode).
import { credsAuthenticator, nkeyAuthenticator, type Authenticator } from '@nats-io/nats-core';

const CREDS_RE = /-----BEGIN NATS USER JWT-----[\s\S]+------END NATS USER JWT------[\s\S]+-----BEGIN USER NKEY SEED-----[\s\S]+------END USER NKEY SEED------/;
const SEED_RE = /^SU[A-Z2-7]{56}$/;

/** The authenticator for `text`; throws one sentence naming `source` when it is neither form. */
export function credentialsAuthenticator(text: string, source: string): Authenticator {
  const trimmed = text.trim();
  if (CREDS_RE.test(trimmed)) return credsAuthenticator(new TextEncoder().encode(trimmed));
  const seed = trimmed
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l && !l.startsWith('#'));
  if (seed && SEED_RE.test(seed)) return nkeyAuthenticator(new TextEncoder().encode(seed));
  throw new Error(`${source} is neither a NATS .creds file nor a user nkey seed (a line starting "SU"); write it with "nixfleet-agent broker-config" or "nsc generate creds"`);
}
