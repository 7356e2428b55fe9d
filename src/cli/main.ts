// nixfleet: the controller CLI (bundled to dist/nixfleet.js). Exit status 0 only on
// success, 1 when something failed or was not confirmed, 2 for bad arguments or files;
// every error is one sentence on stderr. Output is flushed before the process exits.
import { CredentialsError } from './hosts/broker';
import { HostsFileError } from './hosts/hostsFile';
import { TokensError } from './hosts/tokens';
import { UsageError } from './args';
import { Output } from './output';
import { runCli } from './registry';

function oneSentence(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.trim();
}

async function main(): Promise<number> {
  const out = new Output();
  // Ctrl-C in a command that changes hosts: cancel its op (or stop a deploy's hosts that
  // have not started) and finish reporting; a second Ctrl-C leaves at once (the ops are
  // cancelled on the hosts by then, or go on there). In any other command: leave at once.
  const abort = new AbortController();
  let finishOnInterrupt = false;
  let interrupts = 0;
  const onSignal = () => {
    if (!finishOnInterrupt || ++interrupts > 1) process.exit(130);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let code: number;
  try {
    code = await runCli(process.argv.slice(2), { out, env: process.env, io: { input: process.stdin, output: process.stderr }, signal: abort.signal, finishOnInterrupt: () => (finishOnInterrupt = true) });
  } catch (err) {
    out.note(`nixfleet: ${oneSentence(err)}`);
    if (process.env.NIXFLEET_DEBUG && err instanceof Error) out.note(err.stack ?? '');
    code = err instanceof UsageError || err instanceof HostsFileError || err instanceof TokensError || err instanceof CredentialsError ? 2 : 1;
  }
  await out.flush();
  return code;
}

void main().then((code) => process.exit(code));
