// Health checks: the configured argv lists, run one after another with a timeout each.
// The first failure decides the outcome; its argv and output tail become the detail.
import { formatArgv } from '../protocol';
import { CommandError } from './exec';
import type { OpContext } from './ops/types';
import type { CheckOutcome } from './state/metadata';

export type CheckContext = Pick<OpContext, 'config' | 'log' | 'run'>;

/** Run every health check; never throws for a failing check (that is the outcome). */
export async function runHealthChecks(ctx: CheckContext): Promise<CheckOutcome> {
  const checks = ctx.config.healthChecks;
  const timeoutMs = ctx.config.healthCheckTimeout * 1000;
  if (checks.length === 0) {
    ctx.log('info', 'health checks: none configured (set healthChecks in the agent config); counting as passed');
  }
  for (const [i, argv] of checks.entries()) {
    const label = `health check ${i + 1}/${checks.length}: ${formatArgv(argv)}`;
    ctx.log('info', label);
    let failure: string | undefined;
    try {
      // Not allowFailure: runCommand then keeps the reason (timeout, not found) in its error.
      await ctx.run(argv, { timeoutMs });
    } catch (err) {
      if (err instanceof CommandError && err.stopped === 'cancelled') throw err;
      if (err instanceof CommandError && err.exitCode !== undefined && err.exitCode >= 0 && err.stopped !== 'timed-out') {
        const tail = err.stderrTail.filter((l) => l.trim().length > 0).slice(-5);
        failure = `${formatArgv(argv)} exited with code ${err.exitCode}${tail.length ? ': ' + tail.join(' | ') : ''}`;
      } else {
        failure = err instanceof Error ? err.message : `${formatArgv(argv)} could not run: ${String(err)}`;
      }
    }
    if (failure !== undefined) {
      ctx.log('info', `${label}: FAILED`);
      return { passed: false, at: new Date().toISOString(), detail: failure.slice(0, 2000) };
    }
    ctx.log('info', `${label}: passed`);
  }
  return { passed: true, at: new Date().toISOString() };
}
