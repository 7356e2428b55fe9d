// The operator's NATS credentials (an nkey seed or a .creds file) as a controller takes them:
// from a file that is the user's own and private (the CLI's --credentials, the extension's
// "Set Broker Credentials"), or as pasted text; checked in form before they are kept or used.
import { readFileSync } from 'node:fs';
import { credentialsAuthenticator } from '../../protocol/brokerCredentials';
import { checkPrivateFile } from '../cli/hosts/tokens';

export class CredentialsError extends Error {
  override name = 'CredentialsError';
}

const MAX_CREDENTIALS_BYTES = 64 * 1024;

/** `text` when it is an nkey seed or a .creds file; throws one sentence naming `source` otherwise. */
export function checkCredentialsText(text: string, source: string): string {
  if (Buffer.byteLength(text) > MAX_CREDENTIALS_BYTES) throw new CredentialsError(`${source} is larger than 64 KiB; give the NATS nkey seed or .creds file itself`);
  try {
    credentialsAuthenticator(text, source);
  } catch (err) {
    throw new CredentialsError((err as Error).message);
  }
  return text.trim() + '\n';
}

/** The credentials in `file`: a regular file of mode 0600 or stricter owned by the caller, valid in form. */
export function readCredentialsFile(file: string, uid = process.getuid?.()): string {
  checkPrivateFile(file, 'credentials file', 'write it with "nixfleet-agent broker-config --operators NAME" (operators/NAME.nk)', CredentialsError, uid);
  return checkCredentialsText(readFileSync(file, 'utf8'), `credentials file ${file}`);
}

/**
 * Credentials pasted into a one-line input box: a .creds file loses its line breaks there,
 * so they are put back around its "-----BEGIN …-----" / "------END …------" markers.
 */
export function pastedCredentials(text: string): string {
  const t = text.trim();
  const restored = t.includes('\n') ? t : t.replace(/\s*(-{5,}(?:BEGIN|END) [A-Z ]+-{5,})\s*/g, '\n$1\n').trim();
  return checkCredentialsText(restored, 'the pasted credentials');
}
