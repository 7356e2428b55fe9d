// Starting an accepted op's worker after op.start was answered (agent/runner/launch.ts): a
// worker that cannot be started at all ends its op failed ("nothing ran"), in the op's record,
// its journal and the audit log, and frees the host lock; nothing reports it as started.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { OpInfo } from '../../protocol';
import { parseConfig } from '../../agent/config';
import { readAudit } from '../../agent/journal/audit';
import { createOpDir, readOpInfo, writeOpInfo } from '../../agent/journal/opStore';
import { journalFile, opDir } from '../../agent/journal/paths';
import { handOffOrSpawn } from '../../agent/runner/launch';
import { acquireLock, readLock } from '../../agent/runner/lock';
import { AGENT_VERSION } from '../../agent/version';

const root = mkdtempSync(path.join(tmpdir(), 'nixfleet-launch-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('a worker that cannot be started: the op ends failed, nothing ran, the lock is free, nobody hears it started', async () => {
  const stateDir = path.join(root, 'state');
  const config = parseConfig({ host: 'h1', flake: root, platform: 'nixos', stateDir, workerLauncher: 'direct' });
  const opId = 'launch-fails-1';
  const info: OpInfo = { id: opId, kind: 'switch', params: {}, state: 'running', client: { name: 'test', auth: 'cli:test' }, startedAt: new Date().toISOString(), lastSeq: 0, agentVersion: AGENT_VERSION };
  createOpDir(stateDir, opId);
  acquireLock(stateDir, opId, 'switch', info.startedAt);
  writeFileSync(journalFile(stateDir, opId), '');
  writeOpInfo(stateDir, info);
  // The worker's stderr log is opened without following links: a planted one fails the spawn.
  symlinkSync(path.join(root, 'elsewhere.log'), path.join(opDir(stateDir, opId), 'worker.log'));
  const accepted: string[] = [];
  let handedOff = 0;
  await handOffOrSpawn(
    { config, accepted: (i) => void accepted.push(i.id) },
    async () => (handedOff++, undefined),
    info,
  );
  assert.equal(handedOff, 1, 'the standby was asked first');
  const end = readOpInfo(stateDir, opId)!;
  assert.equal(end.state, 'failed');
  assert.match(end.error ?? '', /^switch did not start on host h1: its worker process could not be started \(.*ELOOP.*\); check the agent's log, then retry; nothing ran$/);
  assert.equal(end.exit, 1);
  assert.ok(end.endedAt);
  assert.equal(readLock(stateDir), undefined, 'the host lock is free');
  assert.deepEqual(readAudit(stateDir).filter((r) => r.op === opId).map((r) => r.outcome), ['failed']);
  assert.match(readFileSync(journalFile(stateDir, opId), 'utf8'), /did not start on host h1/);
  assert.deepEqual(accepted, [], 'nobody was told it started');
});
