// The agent's brokerCredentials file: a secret, so it must be a regular file of mode
// 0600 (or stricter) owned by the user the agent runs as, like the token file.
import { readFileSync, statSync } from 'node:fs';
import type { Authenticator } from '@nats-io/nats-core';
import { credentialsAuthenticator } from '../../protocol/brokerCredentials';

export class CredentialsFileError extends Error {
  override name = 'CredentialsFileError';
}

export function loadBrokerCredentials(file: string): Authenticator {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    throw new CredentialsFileError(`brokerCredentials ${file} cannot be read (${(err as NodeJS.ErrnoException).code}); write it with "nixfleet-agent broker-config" and chmod 600 ${file}`);
  }
  if (!st.isFile()) throw new CredentialsFileError(`brokerCredentials ${file} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new CredentialsFileError(`brokerCredentials ${file} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new CredentialsFileError(`brokerCredentials ${file} belongs to uid ${st.uid}, not to the agent's user (uid ${uid}); run: chown ${uid} ${file}`);
  }
  try {
    return credentialsAuthenticator(readFileSync(file, 'utf8'), `brokerCredentials ${file}`);
  } catch (err) {
    throw new CredentialsFileError((err as Error).message);
  }
}
