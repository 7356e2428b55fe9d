// The hosts file: the same JSON list as the `nixfleet.hosts` setting, validated by the
// same code (src/fleet/hostConfig.ts). The CLI refuses the whole file when an entry is
// wrong: acting on "the other hosts" of a file with a typo would surprise a CI job.
import { readFileSync, statSync } from 'node:fs';
import { BROKER_ADDRESS, parseHostsSetting, type HostEntry } from '../../fleet/hostConfig';

export class HostsFileError extends Error {
  override name = 'HostsFileError';
}

const MAX_BYTES = 4 * 1024 * 1024;

export function readHostsFile(file: string): HostEntry[] {
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new HostsFileError(`hosts file ${file} is not a regular file; give the JSON file that lists the hosts`);
    if (st.size > MAX_BYTES) throw new HostsFileError(`hosts file ${file} is larger than 4 MiB; give the JSON list of hosts`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof HostsFileError) throw err;
    throw new HostsFileError(`hosts file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check the path given to --hosts-file`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HostsFileError(`hosts file ${file} is not valid JSON (${(err as Error).message}); it holds a list like [{ "name": "web1", "address": "wss://web1:7531", "platform": "nixos" }]`);
  }
  const { hosts, errors } = parseHostsSetting(value);
  if (errors.length) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more problem${errors.length > 2 ? 's' : ''})` : '';
    throw new HostsFileError(`hosts file ${file}: ${errors[0]!.replace(/^nixfleet\.hosts /, '')}${more}; fix the file and run the command again`);
  }
  const viaBroker = hosts.find((h) => h.address === BROKER_ADDRESS);
  if (viaBroker) throw new HostsFileError(`hosts file ${file}: host ${viaBroker.name} is reached through a broker ("address": "broker"); run the command with --broker URL --credentials FILE instead of --hosts-file`);
  if (!hosts.length) throw new HostsFileError(`hosts file ${file} lists no hosts; add { "name", "address", "platform" } entries`);
  return hosts;
}
