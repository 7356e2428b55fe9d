// nixfleet-agent: the host agent's single entry point (CLI, servers, op workers).
import { ConfigError } from './config';
import { UsageError } from './cli/args';
import { runCli } from './cli/commands';

function oneSentence(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.trim();
}

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Servers resolve only when asked to stop; anything else may leave watchers behind.
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`nixfleet-agent: ${oneSentence(err)}\n`);
    if (process.env.NIXFLEET_DEBUG && err instanceof Error) process.stderr.write(err.stack + '\n');
    process.exit(err instanceof UsageError ? 2 : err instanceof ConfigError ? 2 : 1);
  },
);
