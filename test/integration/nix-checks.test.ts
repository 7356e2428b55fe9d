// Health checks: pass, exit code, timeout, missing command; the first failure decides and
// its argv and output become the detail.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runHealthChecks } from '../../agent/checks';
import { createTestBed, testOpContext, type TestBed } from '../fixtures/testbed';

describe('health checks', () => {
  let bed: TestBed;
  before(async () => {
    bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
  });
  after(() => bed.cleanup());

  const run = async (healthChecks: string[][], healthCheckTimeout = 10) => {
    const t = await testOpContext(bed, 'h1', { kind: 'test', overrides: { healthChecks, healthCheckTimeout } });
    return { outcome: await runHealthChecks(t.ctx), lines: t.lines, commands: t.commands };
  };

  test('all passing: passed, each check logged', async () => {
    const { outcome, lines } = await run([['true'], ['sh', '-c', 'echo systemd ok']]);
    assert.equal(outcome.passed, true);
    assert.equal(outcome.detail, undefined);
    assert.ok(!Number.isNaN(Date.parse(outcome.at)));
    assert.ok(lines.some((l) => l.stream === 'stdout' && l.text === 'systemd ok'));
    assert.ok(lines.some((l) => l.text === "health check 2/2: sh -c 'echo systemd ok': passed"));
  });

  test('the first failure stops the run; its exit code and output are the detail', async () => {
    const { outcome, commands } = await run([['sh', '-c', 'echo "1 unit failed: nginx.service" >&2; exit 3'], ['true']]);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail!, /^sh -c .* exited with code 3: 1 unit failed: nginx\.service$/);
    assert.equal(commands.length, 1);
  });

  test('a check that runs too long fails with a timeout', async () => {
    const t0 = Date.now();
    const { outcome } = await run([['sleep', '30']], 1);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail!, /sleep 30 timed out after 1000 ms/);
    assert.ok(Date.now() - t0 < 20_000);
  });

  test('a missing command fails clearly', async () => {
    const { outcome } = await run([['nixfleet-no-such-check']]);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail!, /nixfleet-no-such-check/);
  });

  test('no checks configured: passed, and the log says so', async () => {
    const { outcome, lines } = await run([]);
    assert.equal(outcome.passed, true);
    assert.ok(lines.some((l) => /none configured/.test(l.text)));
  });
});
