// The agent's brokerCredentials file: a secret, so it must be a regular file of mode
// 0600 (or stricter) owned by the user the agent runs as, like the token file (one check:
// state/ownership.ts checkPrivateFile).
import { readFileSync } from 'node:fs';
import { checkPrivateFile } from '../state/ownership';
import type { Authenticator } from '@nats-io/nats-core';
import { credentialsAuthenticator } from '../../protocol/brokerCredentials';

export class CredentialsFileError extends Error {
  override name = 'CredentialsFileError';
}

export function loadBrokerCredentials(file: string): Authenticator {
  try {
    checkPrivateFile(file, 'brokerCredentials', false, `write it with "nixfleet-agent broker-config" and chmod 600 ${file}`);
  } catch (err) {
    throw new CredentialsFileError((err as Error).message);
  }
  try {
    return credentialsAuthenticator(readFileSync(file, 'utf8'), `brokerCredentials ${file}`);
  } catch (err) {
    throw new CredentialsFileError((err as Error).message);
  }
}
