// nixfleet-agent: the host agent's single entry point (CLI, servers, op workers).
import { ConfigError } from './config';
import { UsageError } from './cli/args';
import { runCli } from './cli/commands';

function oneSentence(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.trim();
}

/**
 * Exit with `code` once stdout and stderr have handed everything to the OS. On a pipe
 * Node writes asynchronously: exiting at once cut `log --json | jq` at 64 KiB (the
 * pipe's buffer) with status 0. Exiting explicitly is still needed: servers and
 * followers may leave watchers behind.
 */
function exitAfterOutput(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  for (const out of [process.stdout, process.stderr]) {
    if (out.destroyed || out.writableEnded) done();
    // The callback runs after every earlier write completed, or with the error that stopped them.
    else out.write('', (err) => (err && (err as NodeJS.ErrnoException).code === 'EPIPE' ? readerGone() : done()));
  }
}

// A reader that went away (`log OP | head`): stop quietly rather than die with a stack
// trace; the status says the output is incomplete.
const readerGone = () => process.exit(141); // as a shell reports death by SIGPIPE
for (const out of [process.stdout, process.stderr]) {
  out.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') readerGone();
    throw err;
  });
}

runCli(process.argv.slice(2)).then(
  (code) => exitAfterOutput(code),
  (err: unknown) => {
    process.stderr.write(`nixfleet-agent: ${oneSentence(err)}\n`);
    if (process.env.NIXFLEET_DEBUG && err instanceof Error) process.stderr.write(err.stack + '\n');
    exitAfterOutput(err instanceof UsageError ? 2 : err instanceof ConfigError ? 2 : 1);
  },
);
