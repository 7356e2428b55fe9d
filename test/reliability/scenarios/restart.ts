// Force Rebuild whose activation restarts the agent (as switch-to-configuration restarts
// nixfleet-agent.service): the activation kills the agent, a service manager would start
// the new one, here the test does, alternating between two agent builds with different
// versions. The client, following across the restart, gets the full log (= the journal);
// the result and the audit log record the agent versions before and after.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { OutputLine } from '../../../protocol';
import { readAudit } from '../../../agent/journal/audit';
import { createTestBed } from '../../fixtures/testbed';
import { AGENT_JS, connect, ROOT } from '../../integration/agent-harness';
import { Tally, assertProfileIntact, assertSameAsJournal, check, killWorkers, pullCheckout, startAgent, stopAllAgents, within, type Scenario } from '../lib';

export const restartScenario: Scenario = {
  name: 'force-rebuild-restart',
  async run(ctx) {
    const trials = ctx.quick ? 2 : 10;
    const newDist = mkdtempSync(path.join(tmpdir(), 'nixfleet-rel-agent-'));
    const newVersion = '9.9.9-reliability';
    const b = spawnSync(process.execPath, ['scripts/build.mjs', '--only=agent', `--outdir=${newDist}`], {
      cwd: ROOT,
      env: { ...process.env, NIXFLEET_BUILD_VERSION: newVersion },
      encoding: 'utf8',
    });
    if (b.status !== 0) throw new Error(`building the second agent failed: ${b.stderr}`);
    const oldVersion = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const builds = [
      { js: AGENT_JS, version: oldVersion },
      { js: path.join(newDist, 'agent.js'), version: newVersion },
    ];
    const bed = await createTestBed({ hosts: [{ name: 'h1', platform: 'nixos' }] });
    const h = bed.host('h1');
    const pidFile = path.join(bed.root, 'agent.pid');
    const tally = new Tally(ctx);
    let agent = await startAgent(bed, 'h1', { agentJs: builds[0]!.js });
    const port = agent.port;
    const c = connect(agent, bed.token, { reconnect: { initialDelayMs: 30, maxDelayMs: 200 } });
    let lines = 0;
    try {
      await c.connect();
      bed.setHook(
        'h1',
        `echo "restarting nixfleet-agent.service"; kill -9 $(cat ${pidFile}); i=1; while [ $i -le 40 ]; do echo "after restart $i"; i=$((i+1)); sleep 0.01; done\n`,
      );
      for (let i = 0; i < trials; i++) {
        const from = builds[i % 2]!;
        const to = builds[(i + 1) % 2]!;
        await tally.trial(`trial ${i + 1} (${from.version} → ${to.version})`, async () => {
          await bed.setVersion('h1', `24.05.${200 + i}`);
          await pullCheckout(bed, 'h1');
          const before = await assertProfileIntact(h.profile, bed.env);
          writeFileSync(pidFile, String(agent.proc.pid));
          const opId = `restart-${i}-${Date.now().toString(36)}`;
          await c.startOp(opId, 'force-rebuild', {});
          const got: OutputLine[] = [];
          const done = c.follow(opId, (ls) => got.push(...ls));
          const code = await within('the activation killing the agent', 60_000, agent.exited);
          check(code === null, `the agent exited with ${code} instead of being killed by the activation`);
          agent = await startAgent(bed, 'h1', { port, agentJs: to.js });
          const { op } = await within(`end of ${opId}`, 60_000, done);
          check(op.state === 'succeeded', `force-rebuild ended ${op.state}: ${op.error}`);
          await assertSameAsJournal(got, h.stateDir, opId, op.lastSeq);
          check(got.some((l) => l.text === 'after restart 40'), 'the output after the restart is missing');
          check(got.some((l) => l.text === 'restarting nixfleet-agent.service'), 'the output before the restart is missing');
          lines += got.length;
          check(op.result?.agentVersionBefore === from.version, `agentVersionBefore is ${op.result?.agentVersionBefore}, expected ${from.version}`);
          check(op.result?.agentVersionAfter === to.version, `agentVersionAfter is ${op.result?.agentVersionAfter}, expected ${to.version}`);
          // Two records: the worker's (before the restart it caused) and the new agent's.
          const audit = readAudit(h.stateDir).filter((r) => r.op === opId);
          check(audit.length === 2, `${audit.length} audit records for ${opId}`);
          const [worker, observed] = [audit.find((r) => !r.observed), audit.find((r) => r.observed)];
          check(worker?.outcome === 'succeeded', `worker's audit outcome ${worker?.outcome}`);
          check(worker?.agentVersionBefore === from.version, `audit agentVersionBefore ${worker?.agentVersionBefore}`);
          check(observed?.outcome === 'succeeded', `observed audit outcome ${observed?.outcome}`);
          check(observed?.agentVersionAfter === to.version, `audit agentVersionAfter ${observed?.agentVersionAfter}, expected ${to.version}`);
          const status = await c.status();
          check(status.agentVersion === to.version, `status reports agent ${status.agentVersion}`);
          const after = await assertProfileIntact(h.profile, bed.env, before);
          check(after.numbers.length === before.numbers.length + 1, `generations went ${before.numbers.length} → ${after.numbers.length}`);
        });
      }
    } finally {
      c.close();
      await stopAllAgents();
      killWorkers(h.stateDir);
      await bed.cleanup();
      rmSync(newDist, { recursive: true, force: true });
    }
    return tally.outcome(`${lines} lines delivered across ${trials} restarts`);
  },
};
